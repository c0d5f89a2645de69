package mpa

import (
	"context"
	"fmt"
	"time"
)

// SystemActor is the audit actor for changes keyturn makes by itself
// (expiry, recovery).
const SystemActor = "keyturn"

// expireTx marks live request r Expired in tx.
func (s *Service) expireTx(tx Tx, r *Request) error {
	return s.transition(tx, r, StatusExpired, SystemActor,
		map[string]any{"was": r.Status.String(), "expires_at": r.ExpiresAt})
}

// ExpireDue marks Expired every Pending or Approved request whose expiry
// has passed by the service's clock, and returns how many it marked. Each
// is re-checked in its own transaction, so a vote or release racing the
// sweep wins or loses cleanly.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.clock()
	var due []string
	err := s.store.View(ctx, func(tx Tx) error {
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			if r.due(now) {
				due = append(due, r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire due requests: %w", err)
	}
	n := 0
	for _, id := range due {
		var expired bool
		var r Request
		err := s.update(ctx, func(tx Tx) error {
			var err error
			expired = false
			r, err = tx.GetRequest(id)
			if err != nil || !r.due(s.clock()) {
				return err
			}
			expired = true
			return s.expireTx(tx, &r)
		})
		if err != nil && !isNotFound(err) {
			return n, fmt.Errorf("expire %s: %w", id, err)
		}
		if expired {
			n++
			s.log.Info("mpa request expired", "request", id, "user", r.Requester, "target", r.Target)
		}
	}
	return n, nil
}

// nextDue returns the earliest expiry among live requests, or zero.
func (s *Service) nextDue(ctx context.Context) (time.Time, error) {
	var next time.Time
	err := s.store.View(ctx, func(tx Tx) error {
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			if (r.Status == StatusPending || r.Status == StatusApproved) && !r.ExpiresAt.IsZero() &&
				(next.IsZero() || r.ExpiresAt.Before(next)) {
				next = r.ExpiresAt
			}
		}
		return nil
	})
	return next, err
}

// sweepRetry is how long Run waits after a failed sweep.
const sweepRetry = 5 * time.Second

// Run expires requests when they fall due until ctx is done. It sleeps on
// a timer set for the next expiry and re-plans whenever a request changes
// in the store (on any gate), rather than polling.
func (s *Service) Run(ctx context.Context) error {
	changes, err := s.store.Changes(ctx)
	if err != nil {
		return fmt.Errorf("mpa expiry: %w", err)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		_, sweepErr := s.ExpireDue(ctx)
		if sweepErr != nil && ctx.Err() == nil {
			s.log.Error("mpa expiry sweep failed", "err", sweepErr)
		}
		next, err := s.nextDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("mpa expiry plan failed", "err", err)
		}
		wait := time.Hour // re-check now and then even if nothing is due
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.clock()), 0)+time.Millisecond)
		}
		if sweepErr != nil {
			// A request due but not expired (a full store refuses the
			// write) is due again at once: retry later, not in a loop.
			wait = max(wait, sweepRetry)
		}
		timer.Reset(wait)
		if err := waitForWork(ctx, timer.C, changes); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitForWork blocks until the timer fires, a request changes, or ctx is
// done. Other changes (audit, approvers) do not move any expiry.
func waitForWork(ctx context.Context, timer <-chan time.Time, changes <-chan Change) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
			return nil
		case c, ok := <-changes:
			if !ok {
				if ctx.Err() != nil {
					return nil // the stream closes because we are stopping
				}
				return fmt.Errorf("mpa expiry: store change stream closed")
			}
			if c.Kind == ChangeRequest || c.Kind == ChangeResync {
				return nil
			}
		}
	}
}
