package mpa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// VoteInput is an approver's vote: the TOTP code that proves it is them,
// and optionally a comment and a time after which their approval lapses.
type VoteInput struct {
	Code        string
	Comment     string
	ValidBefore time.Time
}

// Approve records approver's approval of request id. The approval counts
// only if approver is registered, not locked out, allowed to approve the
// request's actions, is not the requester, has not voted on it, and code
// is a TOTP code for a time step later than any they used before.
//
// The vote and the quorum count happen in one store transaction, so two
// approvers approving at once both count, once each. The approval that
// reaches quorum makes the request Approved, and for register_approver,
// disable_mpa and update_policy requests applies them (Completed) in the
// same transaction.
//
// A bad or replayed code returns ErrBadCode or ErrReplayedCode and still
// commits the failure counter; the fifth in a row locks the approver out
// (ErrLockedOut).
func (s *Service) Approve(ctx context.Context, id, approver string, in VoteInput) (Request, error) {
	r, err := s.vote(ctx, id, approver, in, true)
	if err != nil {
		return Request{}, fmt.Errorf("approve %s by %s: %w", id, approver, err)
	}
	s.log.Info("mpa approval", "request", id, "user", approver, "verdict", "approve",
		"approvals", len(r.Approvals), "required", r.RequiredApprovals, "status", r.Status.String())
	return r, nil
}

// Reject records approver's rejection of request id, with the same checks
// as [Service.Approve]. One rejection rejects the request.
func (s *Service) Reject(ctx context.Context, id, approver string, in VoteInput) (Request, error) {
	r, err := s.vote(ctx, id, approver, in, false)
	if err != nil {
		return Request{}, fmt.Errorf("reject %s by %s: %w", id, approver, err)
	}
	s.log.Info("mpa rejection", "request", id, "user", approver, "verdict", "reject")
	return r, nil
}

func (s *Service) vote(ctx context.Context, id, user string, in VoteInput, approve bool) (Request, error) {
	var out Request
	err := s.updateKeep(ctx, func(tx Tx, keep *error) error {
		now := s.clock()
		a, err := tx.GetApprover(user)
		if isNotFound(err) || err == nil && a.Status != Registered {
			return ErrNotApprover
		}
		if err != nil {
			return err
		}
		r, err := tx.GetRequest(id)
		if err != nil {
			return err
		}
		if err := lockedOut(&a, now); err != nil {
			*keep = err
			return s.auditLocked(tx, &a, "vote", &r)
		}
		if r.due(now) {
			*keep = ErrExpired
			out = r
			return s.expireTx(tx, &out)
		}
		switch {
		case r.Status != StatusPending:
			return fmt.Errorf("%w: it is %s", ErrNotPending, r.Status)
		case r.Requester == user:
			return ErrSelfApproval
		case r.voted(user):
			return ErrAlreadyVoted
		case !s.canApprove(user, r.Actions):
			return ErrNotAllowed
		case !s.mayFill(&r, user):
			return ErrNotInGroup
		case approve && !in.ValidBefore.IsZero() && !in.ValidBefore.After(now):
			return fmt.Errorf("valid-before %s is not in the future: %w", in.ValidBefore.Format(time.RFC3339), ErrInvalid)
		}
		step, err := checkCode(a.Secret, in.Code, a.LastStep, now)
		if errors.Is(err, ErrBadCode) || errors.Is(err, ErrReplayedCode) {
			failed := s.failCode(tx, &a, err, "vote", &r)
			if !errors.Is(failed, ErrBadCode) && !errors.Is(failed, ErrReplayedCode) {
				return failed // a store error, not the code's verdict
			}
			*keep = failed
			return nil
		}
		if err != nil {
			return err
		}
		a.LastStep, a.Failures = step, 0
		if err := tx.PutApprover(a); err != nil {
			return err
		}
		v := Vote{Approver: user, At: now, Comment: in.Comment}
		if approve {
			v.ValidBefore = in.ValidBefore.UTC()
		}
		if err := s.castTx(tx, &r, v, approve); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, err
	}
	return out, nil
}

// castTx adds vote v to r and applies its consequences in tx: rejection,
// or quorum and, for requests on keyturn itself, their effect.
func (s *Service) castTx(tx Tx, r *Request, v Vote, approve bool) error {
	now := v.At
	r.Updated = now
	if !approve {
		r.Rejections = append(r.Rejections, v)
		if err := s.audit(tx, audit.KindRequestRejection, v.Approver, r, map[string]any{"comment": v.Comment}); err != nil {
			return err
		}
		return s.transition(tx, r, StatusRejected, v.Approver, nil)
	}
	r.Approvals = append(r.Approvals, v)
	n := s.countingApprovals(r, now)
	met, lines := s.quorumMet(r, now)
	data := map[string]any{"comment": v.Comment, "approvals": n, "required": r.RequiredApprovals}
	if !v.ValidBefore.IsZero() {
		data["valid_before"] = v.ValidBefore
	}
	if len(r.Rules) > 0 {
		data["lines"] = lines
	}
	if err := s.audit(tx, audit.KindRequestApproval, v.Approver, r, data); err != nil {
		return err
	}
	if !met {
		return tx.PutRequest(*r, 0)
	}
	return s.approveTx(tx, r, v.Approver)
}

// approveTx makes r Approved (quorum reached) and, for kinds the service
// applies itself, applies and completes it.
func (s *Service) approveTx(tx Tx, r *Request, actor string) error {
	now := s.clock()
	r.ExpiresAt = now.Add(shorter(r.ApprovalTTL, s.life.ApprovalTTL))
	for _, v := range r.Approvals {
		// A lapsed consent does not count towards quorum (liveApprovals),
		// so it does not bound the approval either.
		if v.ValidBefore.After(now) && v.ValidBefore.Before(r.ExpiresAt) {
			r.ExpiresAt = v.ValidBefore
		}
	}
	approvers := make([]string, 0, len(r.Approvals))
	for _, v := range r.Approvals {
		approvers = append(approvers, v.Approver)
	}
	if err := s.transition(tx, r, StatusApproved, actor,
		map[string]any{"approvers": approvers, "expires_at": r.ExpiresAt}); err != nil {
		return err
	}
	if r.Kind == KindCommand {
		return nil
	}
	return s.applyTx(tx, r, actor)
}

// countingApprovals counts the approvals of r that count towards its
// quorum now: their valid-before has not passed (a lapsed consent does not
// count), and their caster still holds the approver role for r's actions
// by the roles in force (Options.CanApprove). A vote does not outlive its
// voter's role: an approver removed from the config since voting no longer
// helps a request to quorum, nor releases it.
func (s *Service) countingApprovals(r *Request, now time.Time) int {
	return len(s.countingVoters(r, now))
}

// lostApprovals names the approvers of r whose vote no longer counts
// because they lost the role (see countingApprovals).
func (s *Service) lostApprovals(r *Request) []string {
	var out []string
	for _, v := range r.Approvals {
		if !s.canApprove(v.Approver, r.Actions) {
			out = append(out, v.Approver)
		}
	}
	return out
}
