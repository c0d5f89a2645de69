package notify

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keyturn/keyturn/bastion/mpa"
)

var secret = []byte("0123456789abcdef-webhook-secret")

func endpoint(name, url string) Endpoint {
	return Endpoint{Name: name, URL: url, Secret: secret, Timeout: 10 * time.Second, Attempts: 3, Queue: 16}
}

func noBackoff(int) time.Duration { return 0 }

// received is one POST as the receiver saw it.
type received struct {
	n       Notification
	headers http.Header
}

// receiver is a webhook endpoint on loopback that checks each POST's
// signature as a real receiver must, and hands on what it got.
func receiver(t *testing.T) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read webhook body: %v", err)
			return
		}
		want := Sign(secret, body)
		if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(want)) {
			t.Errorf("%s = %q; want %q", HeaderSignature, r.Header.Get(HeaderSignature), want)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		got <- received{n: n, headers: r.Header.Clone()}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// A real HTTP server on loopback receives signed notifications for a
// request's whole life, in order, with fields a program and a chat reader
// can use.
func TestWebhookSignedDeliveries(t *testing.T) {
	g := newGate(t)
	srv, got := receiver(t)
	g.runNotifier(g.chatNotifier(srv.URL))

	r1 := g.create("kill -9 1")
	g.run(r1.ID, 3)
	r2 := g.create("kill -9 2")
	g.vote(r2.ID, "bob", false)

	var events []string
	byEvent := map[string]received{}
	for range 5 {
		rc := mpatest.Recv(t, got, "the receiver to get notification")
		events = append(events, rc.n.Event+" "+rc.n.Request)
		byEvent[rc.n.Event] = rc
		if h := rc.headers.Get(HeaderEvent); h != rc.n.Event {
			t.Errorf("%s = %q; want %q", HeaderEvent, h, rc.n.Event)
		}
		if h := rc.headers.Get(HeaderDelivery); h == "" || h != rc.n.ID {
			t.Errorf("%s = %q; want the body's id %q", HeaderDelivery, h, rc.n.ID)
		}
	}
	want := []string{
		"request.created " + r1.ID, "request.approved " + r1.ID, "request.completed " + r1.ID,
		"request.created " + r2.ID, "request.rejected " + r2.ID,
	}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	done := byEvent["request.completed"].n
	if done.ExitStatus == nil || *done.ExitStatus != 3 || done.Gate != "gate-1" {
		t.Errorf("completed: exit_status %v, gate %q; want 3 on gate-1", done.ExitStatus, done.Gate)
	}
	if diff := cmp.Diff([]string{"bob", "carol"}, done.Approvers); diff != "" {
		t.Errorf("completed approvers (-want +got):\n%s", diff)
	}
	texts := map[string]string{
		"request.created":   "keyturn: alice requests kill_process on web-1: `kill -9 2` (" + r2.ID + ", needs 2 approvals, expires ",
		"request.approved":  "keyturn: " + r1.ID + " approved by bob and carol: alice may now run kill_process on web-1: `kill -9 1`",
		"request.completed": "keyturn: " + r1.ID + " ran: alice's kill_process on web-1: `kill -9 1` exited 3 (approved by bob and carol)",
		"request.rejected":  "keyturn: " + r2.ID + " rejected by bob: alice's kill_process on web-1: `kill -9 2` (not now)",
	}
	for ev, prefix := range texts {
		if txt := byEvent[ev].n.Text; !strings.HasPrefix(txt, prefix) {
			t.Errorf("%s text = %q; want it to start %q", ev, txt, prefix)
		}
	}
	rej := byEvent["request.rejected"].n
	if rej.Status != "rejected" || rej.Requester != "alice" || rej.Target != "web-1" ||
		rej.Reason != "ticket 4711" || len(rej.Actions) != 1 || rej.Actions[0] != "kill_process" {
		t.Errorf("rejected notification = %+v; want alice's kill_process on web-1, rejected, with its reason", rej)
	}
}

// An endpoint that never answers holds up nothing: approvals and commands
// complete, the store's reader keeps up, and Notify returns at once,
// dropping the oldest notification when the queue is full.
func TestDeadEndpointBlocksNothing(t *testing.T) {
	g := newGate(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // hang until the test ends or the sender gives up
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })

	reg := prometheus.NewRegistry()
	ep := endpoint("hung", hung.URL)
	ep.Queue = 2
	n, err := New([]Endpoint{ep}, Options{Logger: g.Log, Registerer: reg, Backoff: noBackoff})
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	last := make(chan struct{})
	var lastID atomic.Value
	lastID.Store("")
	n.followed = func(c mpa.Change) {
		handled.Add(1)
		if c.Kind == mpa.ChangeAudit && c.Audit.Request == lastID.Load() && c.Audit.Kind == "request.completed" {
			close(last)
		}
	}
	g.runNotifier(n)

	first := g.create("kill -9 1")
	mpatest.Recv(t, arrived, "the first POST to arrive") // the sender is now stuck on its first POST
	// The whole flow still runs: two approvals, a release, its end.
	lastID.Store(first.ID)
	g.run(first.ID, 0)
	mpatest.Closed(t, last, "the notifier to read the completion") // the notifier has read every change: it is not stuck either

	dropped := value(n.senders[0].stats.dropped)
	// created was taken by the stuck sender; approved and completed fit
	// in the queue of 2.
	if dropped != 0 || n.senders[0].q.len() != 2 {
		t.Errorf("after 3 notifications: dropped %v, queued %d; want 0 and 2", dropped, n.senders[0].q.len())
	}
	for range 1000 {
		n.Notify(Notification{Event: "request.created", Request: "req-x"})
	}
	if got := value(n.senders[0].stats.dropped); got != 1000 {
		t.Errorf("dropped after 1000 more = %v; want 1000 (queue bounded at 2)", got)
	}
	if got := n.senders[0].q.len(); got != 2 {
		t.Errorf("queue length = %d; want 2", got)
	}
	if got := value(n.senders[0].stats.delivered); got != 0 {
		t.Errorf("delivered = %v; want 0", got)
	}
	// The drops are on the metrics endpoint.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series int
	for _, mf := range mfs {
		if mf.GetName() == "keyturn_webhook_notifications_total" {
			series = len(mf.GetMetric())
		}
	}
	if series != 3 {
		t.Errorf("keyturn_webhook_notifications_total has %d series; want 3 (delivered, failed, dropped)", series)
	}
}

// A failing endpoint is retried with backoff up to its attempts; a 4xx is
// not retried; a refused connection is given up after its attempts.
func TestRetries(t *testing.T) {
	g := newGate(t)
	var calls atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1, 2:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 3:
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "no such hook", http.StatusNotFound)
		}
	}))
	t.Cleanup(flaky.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close() // its port now refuses connections

	n, err := New([]Endpoint{endpoint("flaky", flaky.URL), endpoint("gone", goneURL)}, Options{Logger: g.Log, Backoff: noBackoff})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]chan error{"flaky": make(chan error, 4), "gone": make(chan error, 4)}
	for _, s := range n.senders {
		ch := byName[s.ep.Name]
		s.sent = func(_ Notification, err error) { ch <- err }
	}
	g.runNotifier(n)

	n.Notify(Notification{Event: "request.created", Request: "req-1"})
	if err := mpatest.Recv(t, byName["flaky"], "the flaky endpoint's first delivery"); err != nil {
		t.Errorf("flaky endpoint: %v; want delivered on the third attempt", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("flaky endpoint called %d times; want 3", got)
	}
	if err := mpatest.Recv(t, byName["gone"], "the refusing endpoint to give up"); err == nil || !strings.Contains(err.Error(), "attempt 3") {
		t.Errorf("refusing endpoint: %v; want given up after attempt 3", err)
	}

	n.Notify(Notification{Event: "request.created", Request: "req-2"})
	err = mpatest.Recv(t, byName["flaky"], "the flaky endpoint's 404")
	var perm *permanentError
	if !errors.As(err, &perm) || calls.Load() != 4 {
		t.Errorf("404: %v after %d calls; want a permanent error after 1 more call (4)", err, calls.Load())
	}
	mpatest.Recv(t, byName["gone"], "the refusing endpoint's second give-up")
	for _, s := range n.senders {
		if s.ep.Name == "gone" {
			if got := value(s.stats.failed); got != 2 {
				t.Errorf("gone: failed = %v; want 2", got)
			}
			if got := value(s.stats.retries); got != 4 {
				t.Errorf("gone: retries = %v; want 4", got)
			}
		}
	}
}

// Events an endpoint did not ask for are not queued for it.
func TestEventFilter(t *testing.T) {
	ep := endpoint("x", "http://127.0.0.1:1/")
	ep.Events = []string{"request.created"}
	n, err := New([]Endpoint{ep}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(Notification{Event: "request.approved"})
	n.Notify(Notification{Event: "request.created"})
	if got := n.senders[0].q.len(); got != 1 {
		t.Errorf("queued %d; want 1 (only request.created)", got)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
