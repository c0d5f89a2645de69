package mpa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pquerna/otp/totp"

	"github.com/keyturn/keyturn/bastion/audit"
)

// InitiateRegistration issues user a new TOTP secret to load into an
// authenticator app. The secret is not in force until
// [Service.CompleteRegistration] confirms a code from it. A registered
// approver must pass force to replace their secret (re-registration).
//
// Whether user may be an approver at all (the approver role) is the gate's
// check.
func (s *Service) InitiateRegistration(ctx context.Context, user string, force bool) (Registration, error) {
	if user == "" || strings.ContainsAny(user, ":/?#") {
		return Registration{}, fmt.Errorf("initiate registration: user %q: %w", user, ErrInvalid)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      s.issuer,
		AccountName: user,
		Period:      totpPeriod,
		Digits:      totpDigits,
		Algorithm:   totpOpts.Algorithm,
	})
	if err != nil {
		return Registration{}, fmt.Errorf("initiate registration for %s: %w", user, err)
	}
	err = s.update(ctx, func(tx Tx) error {
		now := s.clock()
		a, err := tx.GetApprover(user)
		if isNotFound(err) {
			a = Approver{Name: user, Status: RegistrationInitiated, Created: now}
		} else if err != nil {
			return err
		}
		if a.Status == Registered && !force {
			return ErrAlreadyRegistered
		}
		if a.Request != "" {
			r, err := tx.GetRequest(a.Request)
			if err == nil && r.Status == StatusPending && !r.due(now) {
				return fmt.Errorf("%w (%s)", ErrRegistrationPending, r.ID)
			}
			if err != nil && !isNotFound(err) {
				return err
			}
			a.Request = ""
			if a.Status == PendingApproval {
				a.Status = RegistrationInitiated
			}
		}
		a.PendingSecret = key.Secret()
		if err := tx.PutApprover(a); err != nil {
			return err
		}
		return s.audit(tx, audit.KindRegistrationInitiated, user, nil, map[string]any{"force": force})
	})
	if err != nil {
		return Registration{}, fmt.Errorf("initiate registration for %s: %w", user, err)
	}
	s.log.Info("mpa registration initiated", "user", user, "force", force)
	return Registration{User: user, Issuer: s.issuer, Secret: key.Secret(), URL: key.URL()}, nil
}

// CompleteRegistration confirms user's pending secret with a code from it.
//
// While MPA is disabled the secret takes effect at once and user is a
// registered approver. While it is enabled, a new approver (or a forced
// re-registration) is held: a register_approver request is created and
// returned, and the secret takes effect only once existing approvers
// approve it. Otherwise anyone who can add a user could add a second
// identity and approve alone. A re-registering approver keeps their old
// secret until then.
func (s *Service) CompleteRegistration(ctx context.Context, user, code string) (Approver, *Request, error) {
	var out Approver
	var held *Request
	err := s.updateKeep(ctx, func(tx Tx, keep *error) error {
		held = nil
		now := s.clock()
		a, err := tx.GetApprover(user)
		if isNotFound(err) {
			return ErrNoRegistration
		}
		if err != nil {
			return err
		}
		if a.PendingSecret == "" {
			return ErrNoRegistration
		}
		if a.Request != "" {
			return fmt.Errorf("%w (%s)", ErrRegistrationPending, a.Request)
		}
		if err := lockedOut(&a, now); err != nil {
			*keep = err
			return s.auditLocked(tx, &a, "registration", nil)
		}
		// The pending secret has never been used, so any current step
		// will do; recording it below stops the same code approving.
		step, err := checkCode(a.PendingSecret, code, 0, now)
		if errors.Is(err, ErrBadCode) {
			failed := s.failCode(tx, &a, err, "registration", nil)
			if !errors.Is(failed, ErrBadCode) {
				return failed
			}
			*keep = failed
			return nil
		}
		if err != nil {
			return err
		}
		a.LastStep, a.Failures = max(a.LastStep, step), 0
		st, err := tx.GetSettings()
		if err != nil {
			return err
		}
		if !st.Enabled {
			if err := tx.PutApprover(a); err != nil {
				return err
			}
			if err := s.registerTx(tx, user, ""); err != nil {
				return err
			}
			out, err = tx.GetApprover(user)
			return err
		}
		r, err := s.createTx(tx, NewRequest{
			Kind:      KindRegisterApprover,
			Actions:   []ActionRef{ActionRegisterApprover},
			Requester: user,
			Reason:    "register approver " + user,
			Payload:   mustJSON(registerPayload{Approver: user}),
		})
		if err != nil {
			return err
		}
		a.Request = r.ID
		if a.Status != Registered {
			a.Status = PendingApproval
		}
		if err := tx.PutApprover(a); err != nil {
			return err
		}
		out, held = a, &r
		return s.audit(tx, audit.KindRegistrationHeld, user, &r, nil)
	})
	if err != nil {
		return Approver{}, nil, fmt.Errorf("complete registration for %s: %w", user, err)
	}
	if held != nil {
		s.log.Info("mpa registration held for approval", "user", user, "request", held.ID)
	} else {
		s.log.Info("mpa approver registered", "user", user)
	}
	return out.public(), held, nil
}

// BreakGlassRegisterApprover approves the pending register_approver
// request for name without a quorum, for `keyturn breakglass
// register-approver`, run by root on the gate host with the server
// stopped when every approver has lost their TOTP. It can approve nothing
// else: no command, no disable, no policy change. The use is audited.
func (s *Service) BreakGlassRegisterApprover(ctx context.Context, name string) (Request, error) {
	var out Request
	err := s.update(ctx, func(tx Tx) error {
		// Only with every gate stopped: checked in this transaction, so a
		// gate that joins meanwhile makes it fail rather than race it.
		if gates, err := tx.LiveGates(); err != nil {
			return err
		} else if len(gates) > 0 {
			return fmt.Errorf("%w: %s", ErrGatesLive, strings.Join(gates, ", "))
		}
		now := s.clock()
		var found *Request
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			if r.Kind != KindRegisterApprover || r.Status != StatusPending || r.due(now) {
				continue
			}
			var p registerPayload
			if json.Unmarshal(r.Payload, &p) == nil && p.Approver == name {
				found = &r
				break
			}
		}
		if found == nil {
			return fmt.Errorf("no pending register_approver request for %s: %w", name, ErrNotFound)
		}
		r := *found
		r.Approvals = append(r.Approvals, Vote{Approver: breakGlassActor, At: now, Comment: "break-glass"})
		if err := s.audit(tx, audit.KindBreakGlassRegister, breakGlassActor, &r,
			map[string]any{"approver": name}); err != nil {
			return err
		}
		if err := s.approveTx(tx, &r, breakGlassActor); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("break-glass register %s: %w", name, err)
	}
	s.log.Warn("mpa break-glass registration", "user", name, "request", out.ID)
	return out, nil
}

const breakGlassActor = "breakglass"

// Approvers lists approvers (without their secrets), by name.
func (s *Service) Approvers(ctx context.Context) ([]Approver, error) {
	var out []Approver
	err := s.store.View(ctx, func(tx Tx) error {
		for a, err := range tx.Approvers() {
			if err != nil {
				return err
			}
			out = append(out, a.public())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list approvers: %w", err)
	}
	slices.SortFunc(out, func(a, b Approver) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

// Approver returns one approver, without their secrets.
func (s *Service) Approver(ctx context.Context, name string) (Approver, error) {
	a, err := viewOne(ctx, s.store, func(tx Tx) (Approver, error) { return tx.GetApprover(name) })
	if err != nil {
		return Approver{}, fmt.Errorf("approver %s: %w", name, err)
	}
	return a.public(), nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
