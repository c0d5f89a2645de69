package metrics

import (
	"context"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// gappy is a real store whose change feed can lose changes, as an etcd
// watch does when it breaks and the history it needed was compacted; it
// then sends a ChangeResync before the next change, as the contract says.
type gappy struct {
	mpa.Store
	mu         sync.Mutex
	drop, lost bool
}

func (s *gappy) setDrop(v bool) {
	s.mu.Lock()
	s.drop = v
	s.mu.Unlock()
}

func (s *gappy) Changes(ctx context.Context) (<-chan mpa.Change, error) {
	in, err := s.Store.Changes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan mpa.Change)
	go func() {
		defer close(out)
		for c := range in {
			s.mu.Lock()
			drop, lost := s.drop, s.lost
			s.lost = drop
			s.mu.Unlock()
			if drop {
				continue
			}
			cs := []mpa.Change{c}
			if lost {
				cs = []mpa.Change{{Kind: mpa.ChangeResync, Rev: c.Rev}, c}
			}
			for _, c := range cs {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// TestResyncAfterGap: after the feed lost changes, the counters count the
// lost audit events from the trail and the open-request gauges are read
// afresh. Before, a ChangeResync was ignored: the lost approval was never
// counted and the request stayed pending in the gauge.
func TestResyncAfterGap(t *testing.T) {
	g := newGate(t)
	st := &gappy{Store: g.store}
	m2 := New()
	resynced := make(chan struct{})
	var after int
	m2.handled = func(c mpa.Change) {
		if c.Kind == mpa.ChangeResync {
			after = 1
		} else if after > 0 && c.Kind == mpa.ChangeAudit && c.Audit.Kind == "request.created" {
			close(resynced)
			after = 0
		}
	}
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	followed := make(chan error, 1)
	started := make(chan struct{})
	m2.seeded = func() { close(started) }
	go func() { followed <- m2.Follow(ctx, st, g.svc) }()
	mpatest.Closed(t, started, "the gappy Follow to seed its gauges")

	r := g.create()
	st.setDrop(true)
	g.approve(r.ID, "bob")
	g.approve(r.ID, "carol") // approved: no longer pending
	st.setDrop(false)
	g.create()
	mpatest.Closed(t, resynced, "the gappy Follow to resync and count the next request")

	if got := gauge(t, m2, "keyturn_approvals_total", ""); got != 2 {
		t.Errorf("approvals after the gap = %v; want 2 (counted from the trail)", got)
	}
	if got := gauge(t, m2, "keyturn_requests_open", "approved"); got != 1 {
		t.Errorf("approved open after the gap = %v; want 1", got)
	}
	if got := gauge(t, m2, "keyturn_requests_open", "pending"); got != 1 {
		t.Errorf("pending open after the gap = %v; want 1 (the second request)", got)
	}
	cancel()
	mpatest.Recv(t, followed, "the gappy Follow to end with its context")
}
