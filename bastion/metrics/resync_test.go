package metrics

import (
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
	stop := g.follow(m2, st, "the lossy Follow")

	r := g.create()
	st.SetDrop(true)
	g.approve(r.ID, "bob")
	g.approve(r.ID, "carol") // approved: no longer pending
	st.SetDrop(false)
	g.create()
	mpatest.Closed(t, resynced, "the lossy Follow to resync and count the next request")

	wantGauge(t, m2, "keyturn_approvals_total", "", 2, "approvals after the gap (counted from the trail)")
	wantGauge(t, m2, "keyturn_requests_open", "approved", 1, "approved open after the gap")
	wantGauge(t, m2, "keyturn_requests_open", "pending", 1, "pending open after the gap (the second request)")
	stop()
}
