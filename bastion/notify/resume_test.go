package notify

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// follower runs a notifier on st until stop is called, as one webhooks
// leader's term.
type follower struct {
	stop func()
	// sent has the id of each notification the endpoint is done with.
	sent chan string
}

func follow(t *testing.T, g *gate, st mpa.Store, url string) *follower {
	t.Helper()
	n := g.chatNotifier(url)
	sent := make(chan string, 64)
	n.senders[0].sent = func(x Notification, _ error) { sent <- x.ID }
	return &follower{sent: sent, stop: g.startNotifier(n, st)}
}

// expect receives the next notifications and checks their events and
// requests, in order.
func expect(t *testing.T, got <-chan received, want ...string) []received {
	t.Helper()
	var out []received
	for _, w := range want {
		rc := mpatest.Recv(t, got, "webhook "+w)
		if s := rc.n.Event + " " + rc.n.Request; s != w {
			t.Fatalf("webhook %q; want %q", s, w)
		}
		out = append(out, rc)
	}
	return out
}

// auditID is the delivery id every gate derives for request id's event.
func auditID(t *testing.T, g *gate, id, kind string) string {
	t.Helper()
	for e, err := range g.Svc.AuditEvents(g.ctx, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Request == id && e.Kind == kind {
			return e.Hash[:24]
		}
	}
	t.Fatalf("no %s event for %s", kind, id)
	return ""
}

// TestWebhookHandoverResumes: a new webhooks leader starts where the old
// one stopped. Changes made while no gate led are sent, nothing already
// sent is sent again, and every id is the one derived from the audit
// event, whichever gate sends it. Before, the new leader started from the
// live requests: the approval of r1 and the creation of r2 were lost.
func TestWebhookHandoverResumes(t *testing.T) {
	g := newGate(t)
	srv, got := receiver(t)
	a := follow(t, g, g.Store, srv.URL)
	r1 := g.create("kill -9 1")
	first := expect(t, got, "request.created "+r1.ID)
	mpatest.Recv(t, a.sent, "the sender to be done with it")
	a.stop()

	// No leader: r1 is approved, r2 is created.
	g.vote(r1.ID, "bob", true)
	g.vote(r1.ID, "carol", true)
	r2 := g.create("kill -9 2")

	follow(t, g, g.Store, srv.URL)
	later := expect(t, got, "request.approved "+r1.ID, "request.created "+r2.ID)
	r3 := g.create("kill -9 3") // then the live feed goes on, with nothing repeated before it
	later = append(later, expect(t, got, "request.created "+r3.ID)...)

	for _, rc := range append(first, later...) {
		kind := rc.n.Event
		if want := auditID(t, g, rc.n.Request, kind); rc.n.ID != want || rc.headers.Get(HeaderDelivery) != want {
			t.Errorf("%s %s: id %q, header %q; want %q (from its audit event)", kind, rc.n.Request, rc.n.ID, rc.headers.Get(HeaderDelivery), want)
		}
	}
	if later[0].n.Status != "approved" {
		t.Errorf("replayed approval says status %q; want approved", later[0].n.Status)
	}
}

// TestWebhookInFlightResentSameID: a notification the leader was still
// sending when it stopped is sent again by the next leader, with the same
// id, so the receiver can tell it is the same one.
func TestWebhookInFlightResentSameID(t *testing.T) {
	g := newGate(t)
	arrived := make(chan string, 1)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- r.Header.Get(HeaderDelivery):
		default:
		}
		select { // never answers while the test runs
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })
	a := follow(t, g, g.Store, hung.URL)
	r1 := g.create("kill -9 1")
	firstID := mpatest.Recv(t, arrived, "the first POST")
	a.stop()

	srv, got := receiver(t)
	follow(t, g, g.Store, srv.URL)
	rc := expect(t, got, "request.created "+r1.ID)[0]
	if rc.n.ID != firstID {
		t.Fatalf("resent with id %q; the first attempt had %q", rc.n.ID, firstID)
	}
}

// TestWebhookResyncAfterGap: changes the feed lost are sent once it says
// it lost some. Before, a ChangeResync was ignored and they were lost.
func TestWebhookResyncAfterGap(t *testing.T) {
	g := newGate(t)
	st := &svctest.LossyStore{Store: g.Store}
	srv, got := receiver(t)
	follow(t, g, st, srv.URL)
	r1 := g.create("kill -9 1")
	expect(t, got, "request.created "+r1.ID)

	st.SetDrop(true)
	r2 := g.create("kill -9 2")
	g.vote(r1.ID, "bob", false)
	st.SetDrop(false)
	r3 := g.create("kill -9 3")
	expect(t, got, "request.created "+r2.ID, "request.rejected "+r1.ID, "request.created "+r3.ID)
}
