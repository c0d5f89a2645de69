package mpa

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// registerPayload is the Payload of a register_approver request.
type registerPayload struct {
	Approver string `json:"approver"`
}

// applyTx carries out an approved request on keyturn itself and completes
// it, in the transaction that approved it, so there is no moment where a
// request is approved but not yet in effect.
func (s *Service) applyTx(tx Tx, r *Request, actor string) error {
	switch r.Kind {
	case KindRegisterApprover:
		var p registerPayload
		if err := json.Unmarshal(r.Payload, &p); err != nil || p.Approver == "" {
			return fmt.Errorf("apply %s: bad register_approver payload: %w", r.ID, ErrInvalid)
		}
		if err := s.registerTx(tx, p.Approver, r.ID); err != nil {
			return fmt.Errorf("apply %s: %w", r.ID, err)
		}
	case KindDisableMPA:
		st, err := tx.GetSettings()
		if err != nil {
			return fmt.Errorf("apply %s: %w", r.ID, err)
		}
		st.Enabled = false
		if err := s.putSettingsTx(tx, st, actor, r); err != nil {
			return fmt.Errorf("apply %s: %w", r.ID, err)
		}
	case KindUpdatePolicy:
		// The record of the policy in force changes with the approval;
		// running gates see this request Completed in the store's change
		// stream and switch to Payload, and a gate that starts later
		// starts from the record.
		st, err := tx.GetSettings()
		if err != nil {
			return fmt.Errorf("apply %s: %w", r.ID, err)
		}
		if policyDigest(st.Policy) != r.PolicyBase {
			// Another change went into force since this one was made:
			// applying it now would undo that change, which its diff
			// does not show. The approval stands on record; the request
			// does not take effect.
			return s.transition(tx, r, StatusCancelled, actor, map[string]any{
				"why": "superseded: the policy in force changed after this request was made"})
		}
		st.Policy = r.Payload
		if err := tx.PutSettings(st); err != nil {
			return fmt.Errorf("apply %s: %w", r.ID, err)
		}
	default:
		return fmt.Errorf("apply %s: kind %q is not applied by the service: %w", r.ID, r.Kind, ErrInvalid)
	}
	return s.transition(tx, r, StatusCompleted, actor, map[string]any{"applied": string(r.Kind)})
}

// registerTx puts approver name's pending secret in force.
func (s *Service) registerTx(tx Tx, name, reqID string) error {
	a, err := tx.GetApprover(name)
	if err != nil {
		return fmt.Errorf("approver %s: %w", name, err)
	}
	if a.PendingSecret == "" {
		return fmt.Errorf("approver %s has no pending secret: %w", name, ErrNoRegistration)
	}
	now := s.clock()
	a.Secret, a.PendingSecret = a.PendingSecret, ""
	a.Status = Registered
	a.RegisteredAt = now
	a.Request = ""
	a.Failures = 0
	a.LockedUntil = time.Time{} // a fresh secret starts with a clean slate
	if err := tx.PutApprover(a); err != nil {
		return err
	}
	var req *Request
	if reqID != "" {
		req = &Request{ID: reqID}
	}
	return s.audit(tx, audit.KindApproverRegistered, name, req, nil)
}
