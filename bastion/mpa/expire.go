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
	out, err := s.sweep(ctx, "expire due requests",
		func(_ Tx, r *Request) (bool, error) { return r.due(s.clock()), nil },
		s.expireTx)
	for _, r := range out {
		s.log.Info("mpa request expired", "request", r.ID, "user", r.Requester, "target", r.Target)
	}
	return len(out), err
}

// sweep is the one pass behind ExpireDue, RecoverInterrupted and
// InterruptGone: it lists the live requests pick selects, then re-reads
// each in its own transaction and, if pick still selects it, lets change
// change it there. A request that moved on between the two reads (or is
// gone) is left alone. what names the pass in errors. It returns the
// requests it changed, also those changed before an error.
func (s *Service) sweep(ctx context.Context, what string, pick func(Tx, *Request) (bool, error), change func(Tx, *Request) error) ([]Request, error) {
	var ids []string
	err := s.store.View(ctx, func(tx Tx) error {
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			ok, err := pick(tx, &r)
			if err != nil {
				return err
			}
			if ok {
				ids = append(ids, r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out []Request
	for _, id := range ids {
		var r Request
		var changed bool
		err := s.update(ctx, func(tx Tx) error {
			var err error
			changed = false
			r, err = tx.GetRequest(id)
			if err != nil {
				return err
			}
			ok, err := pick(tx, &r)
			if err != nil || !ok {
				return err
			}
			changed = true
			return change(tx, &r)
		})
		if err != nil && !isNotFound(err) {
			return out, fmt.Errorf("%s: %s: %w", what, id, err)
		}
		if changed {
			out = append(out, r)
		}
	}
	return out, nil
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
