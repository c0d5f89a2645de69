package mpa

import (
	"context"
	"fmt"
)

// Watch delivers request id's state now and then after each committed
// change, from any gate sharing the store, until the request reaches a
// final status (delivered, then the channel is closed) or ctx is done.
// It is driven by the store's change events; nothing polls.
//
// A slow reader does not lose a change or hold up the store: changes queue
// until read.
func (s *Service) Watch(ctx context.Context, id string) (<-chan Request, error) {
	ctx, cancel := context.WithCancel(ctx)
	// Subscribe before reading, so a change between the two is not lost.
	changes, err := s.store.Changes(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", id, err)
	}
	first, err := s.Get(ctx, id)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", id, err)
	}
	out := make(chan Request)
	go func() {
		defer cancel()
		defer close(out)
		last := first
		if !send(ctx, out, first) || first.Status.Final() {
			return
		}
		for c := range changes {
			var r Request
			switch {
			case c.Kind == ChangeRequest && c.Request.ID == id:
				r = *c.Request
				s.effective(&r)
			case c.Kind == ChangeResync:
				// Changes may have been lost: read the request again.
				var err error
				if r, err = s.Get(ctx, id); err != nil {
					s.log.Error("watch: re-read after a change feed gap failed", "request", id, "err", err)
					return
				}
			default:
				continue
			}
			if sameState(r, last) {
				continue // already delivered (the first read saw it)
			}
			last = r
			if !send(ctx, out, r) || r.Status.Final() {
				return
			}
		}
	}()
	return out, nil
}

// WatchAll delivers every live request now, then every request after each
// committed change, until ctx is done: the approvers' queue in the TUI.
func (s *Service) WatchAll(ctx context.Context) (<-chan Request, error) {
	ctx, cancel := context.WithCancel(ctx)
	changes, err := s.store.Changes(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch requests: %w", err)
	}
	now, err := s.List(ctx, ListFilter{Statuses: []Status{StatusPending, StatusApproved, StatusExecuting}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch requests: %w", err)
	}
	out := make(chan Request)
	go func() {
		defer cancel()
		defer close(out)
		for _, r := range now {
			if !send(ctx, out, r) {
				return
			}
		}
		for c := range changes {
			switch c.Kind {
			case ChangeRequest:
				r := *c.Request
				s.effective(&r)
				if !send(ctx, out, r) {
					return
				}
			case ChangeResync:
				// Changes may have been lost: deliver every live request
				// again, as at the start.
				again, err := s.List(ctx, ListFilter{Statuses: []Status{StatusPending, StatusApproved, StatusExecuting}})
				if err != nil {
					s.log.Error("watch: re-read after a change feed gap failed", "err", err)
					return
				}
				for _, r := range again {
					if !send(ctx, out, r) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- Request, r Request) bool {
	select {
	case out <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// sameState reports whether a and b are the same version of a request.
func sameState(a, b Request) bool {
	return a.Status == b.Status && a.Updated.Equal(b.Updated) &&
		len(a.Approvals) == len(b.Approvals) && len(a.Rejections) == len(b.Rejections)
}
