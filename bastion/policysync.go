package bastion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// checkRecord reports whether h enforces the policy record (the approved
// policy in the store). It is the mpa release check (see
// mpa.Service.SetPolicyCheck): with several gates on one store, a policy
// approved on one gate reaches the others through their change feeds,
// and a release must not overtake that.
func (h *PolicyHolder) checkRecord(record []byte) error {
	var rec policyUpdate
	if err := json.Unmarshal(record, &rec); err != nil {
		return fmt.Errorf("policy on record: %w", err)
	}
	want := sha256.Sum256([]byte(rec.Text))
	have := sha256.Sum256(*h.text.Load())
	if want != have {
		return fmt.Errorf("in force here sha256 %.16s, approved %.16s", hex.EncodeToString(have[:]), hex.EncodeToString(want[:]))
	}
	return nil
}

// syncPolicy puts the approved policy on record into force on this gate
// if it is not already. An error leaves the policy in force unchanged,
// and releases stay refused (the check still fails).
func syncPolicy(ctx context.Context, h *PolicyHolder, svc *mpa.Service, log *slog.Logger) error {
	st, err := svc.Settings(ctx)
	if err != nil {
		return err
	}
	if !st.Enabled || len(st.Policy) == 0 || h.checkRecord(st.Policy) == nil {
		return nil
	}
	var rec policyUpdate
	if err := json.Unmarshal(st.Policy, &rec); err != nil {
		return fmt.Errorf("policy on record: %w", err)
	}
	if err := h.Install([]byte(rec.Text)); err != nil {
		return fmt.Errorf("approved policy on record does not load: %w", err)
	}
	log.Warn("policy in force replaced by the approved policy on record", "file", h.path)
	return nil
}

// releaseAttempts bounds how often a release reloads the policy on record
// and tries again: each attempt that finds the policy changed again means
// another approved change went in meanwhile.
const releaseAttempts = 3

// beginExecution is mpa.BeginExecution with the policy kept in step: a
// release refused because this gate's policy is not the one on record
// loads the record and tries again, so that the release happens under
// the approved policy (which release then applies: a line it denies is
// not run). If the record cannot be loaded, the release stays refused.
func (g *Gate) beginExecution(ctx context.Context, reqID, user string) (mpa.Request, error) {
	for attempt := 1; ; attempt++ {
		r, err := g.mpa.BeginExecution(ctx, reqID, user)
		if !errors.Is(err, mpa.ErrPolicyStale) || attempt == releaseAttempts {
			return r, err
		}
		h, ok := g.policy.(*PolicyHolder)
		if !ok {
			return r, err
		}
		if serr := syncPolicy(ctx, h, g.mpa, g.log); serr != nil {
			g.log.Error("could not load the approved policy on record; release refused", "request", reqID, "err", serr)
			return r, errors.Join(err, serr)
		}
	}
}
