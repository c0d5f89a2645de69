package mpa

import (
	"context"
	"fmt"
	"strings"
)

// BeginExecution releases an approved command request: it commits
// Approved -> Executing before the caller sends the command, so a request
// is released at most once however many sessions, goroutines or gates try.
// Only the requester may release it. If the approval lapsed, the request
// becomes Expired and ErrExpired is returned.
func (s *Service) BeginExecution(ctx context.Context, id, user string) (Request, error) {
	var out Request
	err := s.updateKeep(ctx, func(tx Tx, keep *error) error {
		r, err := s.requesterTx(tx, id, user, keep)
		if err != nil || *keep != nil {
			return err
		}
		switch r.Status {
		case StatusApproved:
		case StatusExecuting, StatusCompleted, StatusInterrupted:
			return fmt.Errorf("%w: it is %s", ErrAlreadyReleased, r.Status)
		case StatusExpired:
			return ErrExpired
		default:
			return fmt.Errorf("%w: it is %s", ErrNotApproved, r.Status)
		}
		if r.Kind != KindCommand {
			return fmt.Errorf("%s request is applied by keyturn, not run: %w", r.Kind, ErrInvalid)
		}
		// Count the votes again with the roles in force now: an approver
		// who lost the role since voting no longer counts. Short of its
		// quorum, the request goes back to Pending (committed), where
		// approvers who hold the role can complete it again.
		if n := s.countingApprovals(&r, s.clock()); n < r.RequiredApprovals {
			lost := s.lostApprovals(&r)
			*keep = fmt.Errorf("%w: only %d of %d approvals still count (%s no longer may approve it); it is pending again",
				ErrNotApproved, n, r.RequiredApprovals, strings.Join(lost, ", "))
			return s.transition(tx, &r, StatusPending, SystemActor, map[string]any{
				"reason": "approvals no longer count: their casters lost the approver role", "lost": lost,
				"approvals": n, "required": r.RequiredApprovals,
			})
		}
		// The same for groups: a vote fills a line only while its
		// caster is in the line's group by the groups in force now.
		if met, lines := s.quorumMet(&r, s.clock()); !met {
			short := unmet(lines)
			*keep = fmt.Errorf("%w: its approvers rule is no longer met (%s); it is pending again",
				ErrNotApproved, strings.Join(short, "; "))
			return s.transition(tx, &r, StatusPending, SystemActor, map[string]any{
				"reason": "approvals no longer meet the approvers rule: their casters left its groups",
				"unmet":  short, "lines": lines,
			})
		}
		if err := s.checkPolicyTx(tx); err != nil {
			return err
		}
		r.Execution = &Execution{Node: s.node, Start: s.clock()}
		if err := s.transition(tx, &r, StatusExecuting, user, map[string]any{"node": s.node}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("begin execution of %s by %s: %w", id, user, err)
	}
	s.log.Info("mpa request released", "request", id, "user", user, "target", out.Target)
	return out, nil
}

// FinishExecution records how a released command ended and completes the
// request, or marks it Interrupted when res says the outcome is unknown.
func (s *Service) FinishExecution(ctx context.Context, id string, res ExecResult) (Request, error) {
	var out Request
	err := s.update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return err
		}
		if r.Status != StatusExecuting || r.Execution == nil {
			return fmt.Errorf("%w: it is %s", ErrNotExecuting, r.Status)
		}
		x := r.Execution
		x.End = res.End.UTC()
		if res.End.IsZero() {
			x.End = s.clock()
		}
		x.ExitStatus, x.OutputBytes, x.OutputSHA256, x.Error = res.ExitStatus, res.OutputBytes, res.OutputSHA256, res.Error
		x.OutputHead = res.OutputHead
		data := map[string]any{
			"start": x.Start, "end": x.End, "exit_status": x.ExitStatus,
			"output_bytes": x.OutputBytes, "output_sha256": x.OutputSHA256,
		}
		if x.Error != "" {
			data["error"] = x.Error
		}
		next := StatusCompleted
		if res.Interrupted {
			// No exit status was seen: record none rather than a
			// number that would read as the command's.
			next = StatusInterrupted
			x.ExitStatus = 0
			delete(data, "exit_status")
			data["outcome"] = "unknown"
		}
		if err := s.transition(tx, &r, next, r.Requester, data); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("finish execution of %s: %w", id, err)
	}
	if res.Interrupted {
		s.log.Warn("mpa request interrupted", "request", id, "user", out.Requester,
			"target", out.Target, "err", res.Error)
		return out, nil
	}
	s.log.Info("mpa request completed", "request", id, "user", out.Requester,
		"target", out.Target, "exit_status", res.ExitStatus)
	return out, nil
}

// RecoverInterrupted marks Interrupted every request this gate (Options.Node)
// left Executing: it crashed or stopped while the command ran, so whether
// it finished is unknown, and it is never run again by itself. Call it at
// startup before serving. It returns the requests it marked.
func (s *Service) RecoverInterrupted(ctx context.Context) ([]Request, error) {
	out, err := s.interruptLost(ctx, "recover interrupted",
		func(_ Tx, ex *Execution) (bool, error) { return ex.Node == s.node, nil },
		func(r *Request) map[string]any {
			r.Execution.Error = "gate stopped while the command ran"
			return map[string]any{"node": s.node}
		})
	for _, r := range out {
		s.log.Warn("mpa request interrupted", "request", r.ID, "user", r.Requester, "target", r.Target)
	}
	return out, err
}

// InterruptGone marks Interrupted every request left Executing by another
// gate whose store membership has ended (killed, or cut off past its
// lease): whether its command finished is unknown, and it is never run
// again by itself. Each request is re-read and changed in one transaction
// with the gate's liveness, so a live gate's run is never touched, and
// gates running this at once mark each request once. It returns the
// requests it marked.
func (s *Service) InterruptGone(ctx context.Context) ([]Request, error) {
	out, err := s.interruptLost(ctx, "interrupt runs of gone gates",
		func(tx Tx, ex *Execution) (bool, error) {
			if ex.Node == s.node {
				return false, nil
			}
			live, err := tx.GateLive(ex.Node)
			return !live, err
		},
		func(r *Request) map[string]any {
			r.Execution.Error = "gate " + r.Execution.Node + " left the store while the command ran"
			return map[string]any{"node": r.Execution.Node, "seen_by": s.node}
		})
	for _, r := range out {
		s.log.Warn("mpa request interrupted: its gate is gone", "request", r.ID, "node", r.Execution.Node, "user", r.Requester, "target", r.Target)
	}
	return out, err
}

// interruptLost is the pass behind RecoverInterrupted and InterruptGone:
// it marks Interrupted the requests left Executing whose run lost says is
// lost, after mark notes why on each; mark's map is the audit detail.
// what names the pass in errors. It returns the requests it marked, also
// those marked before an error.
func (s *Service) interruptLost(ctx context.Context, what string, lost func(Tx, *Execution) (bool, error), mark func(*Request) map[string]any) ([]Request, error) {
	return s.sweep(ctx, what,
		func(tx Tx, r *Request) (bool, error) {
			if r.Status != StatusExecuting || r.Execution == nil {
				return false, nil
			}
			return lost(tx, r.Execution)
		},
		func(tx Tx, r *Request) error {
			return s.transition(tx, r, StatusInterrupted, SystemActor, mark(r))
		})
}
