package mpa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Settings returns the global MPA settings. While MPA is disabled the gate
// lets privileged commands pass (and audits them), as the vendors do.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	st, err := viewOne(ctx, s.store, Tx.GetSettings)
	if err != nil {
		return Settings{}, fmt.Errorf("mpa settings: %w", err)
	}
	return st, nil
}

// SetEnabled turns MPA on or off on behalf of user.
//
// Enabling needs at least two registered approvers (ErrNotEnoughApprovers)
// and takes effect at once. Disabling while enabled does not: it creates
// (or returns the already pending) disable_mpa request, held for quorum
// like any privileged action, and returns it; MPA goes off in the
// transaction that approves it. Setting the current value is a no-op that
// returns a nil request.
func (s *Service) SetEnabled(ctx context.Context, user string, enabled bool) (*Request, error) {
	var held *Request
	err := s.update(ctx, func(tx Tx) error {
		held = nil
		st, err := tx.GetSettings()
		if err != nil {
			return err
		}
		if st.Enabled == enabled {
			return nil
		}
		if enabled {
			n := 0
			for a, err := range tx.Approvers() {
				if err != nil {
					return err
				}
				if a.Status == Registered {
					n++
				}
			}
			if n < 2 {
				return fmt.Errorf("%w (%d registered)", ErrNotEnoughApprovers, n)
			}
			st.Enabled = true
			return s.putSettingsTx(tx, st, user, nil)
		}
		now := s.clock()
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			if r.Kind == KindDisableMPA && r.Status == StatusPending && !r.due(now) {
				held = &r
				return nil
			}
		}
		r, err := s.createTx(tx, NewRequest{
			Kind:      KindDisableMPA,
			Actions:   []ActionRef{ActionDisableMPA},
			Requester: user,
			Reason:    "disable multi-party approval",
		})
		if err != nil {
			return err
		}
		held = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set mpa enabled=%t by %s: %w", enabled, user, err)
	}
	if held != nil {
		s.log.Info("mpa disable held for approval", "user", user, "request", held.ID)
	} else {
		s.log.Info("mpa settings changed", "user", user, "enabled", enabled)
	}
	return held, nil
}

// putSettingsTx writes st and audits the change.
func (s *Service) putSettingsTx(tx Tx, st Settings, actor string, r *Request) error {
	st.Updated = s.clock()
	st.UpdatedBy = actor
	if err := tx.PutSettings(st); err != nil {
		return err
	}
	return s.audit(tx, audit.KindSettingsChanged, actor, r, map[string]any{"enabled": st.Enabled})
}

// RecordPolicy records policy (the gate's encoding of its policy in force)
// as Settings.Policy. While MPA is enabled only the first record is taken
// this way; a change then needs an approved update_policy request
// (ErrNotAllowed).
func (s *Service) RecordPolicy(ctx context.Context, actor string, policy json.RawMessage) error {
	err := s.update(ctx, func(tx Tx) error {
		st, err := tx.GetSettings()
		if err != nil {
			return err
		}
		if bytes.Equal(st.Policy, policy) {
			return nil
		}
		if st.Enabled && st.Policy != nil {
			return fmt.Errorf("a policy change needs an approved update_policy request while MPA is enabled: %w", ErrNotAllowed)
		}
		st.Policy = slices.Clone(policy)
		if err := tx.PutSettings(st); err != nil {
			return err
		}
		return s.audit(tx, audit.KindPolicyRecorded, actor, nil, map[string]any{"policy": json.RawMessage(policy)})
	})
	if err != nil {
		return fmt.Errorf("record policy: %w", err)
	}
	return nil
}
