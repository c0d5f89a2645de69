package metrics

import (
	"context"
	"testing"

	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// TestResyncAfterGap: after the feed lost changes, the counters count the
// lost audit events from the trail and the open-request gauges are read
// afresh. Before, a ChangeResync was ignored: the lost approval was never
// counted and the request stayed pending in the gauge.
func TestResyncAfterGap(t *testing.T) {
	g := newGate(t)
	st := &svctest.LossyStore{Store: g.Store}
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
	go func() { followed <- m2.Follow(ctx, st, g.Svc) }()
	mpatest.Closed(t, started, "the lossy Follow to seed its gauges")

	r := g.create()
	st.SetDrop(true)
	g.approve(r.ID, "bob")
	g.approve(r.ID, "carol") // approved: no longer pending
	st.SetDrop(false)
	g.create()
	mpatest.Closed(t, resynced, "the lossy Follow to resync and count the next request")

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
	mpatest.Recv(t, followed, "the lossy Follow to end with its context")
}
