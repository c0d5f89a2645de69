package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// gate is the shared fixture with approvers bob and carol, and Metrics
// following its store.
type gate struct {
	*svctest.Fixture
	t       *testing.T
	ctx     context.Context
	m       *Metrics
	seen    chan mpa.Change // every change Follow has counted
	history []mpa.Change    // read from seen, not yet waited for
	srv     *httptest.Server
}

func newGate(t *testing.T) *gate {
	t.Helper()
	f := svctest.New(t, "bob", "carol")
	st, log := f.Store, f.Log
	g := &gate{
		Fixture: f, t: t, ctx: context.Background(),
		m:    New(),
		seen: make(chan mpa.Change, 1024),
	}
	g.m.handled = func(c mpa.Change) { g.seen <- c }
	// Follow subscribes on its own goroutine: wait until it has, or a
	// change the test makes right after newGate returns would be committed
	// before the subscription and never counted (the wait for it would
	// then hang).
	subscribed := make(chan struct{})
	g.m.seeded = func() { close(subscribed) }
	svctest.Follow(t, g.ctx, "Metrics.Follow", subscribed, func(ctx context.Context) error { return g.m.Follow(ctx, st, g.Svc) })
	health := func(ctx context.Context) error {
		return st.View(ctx, func(tx mpa.Tx) error { _, err := tx.GetSettings(); return err })
	}
	g.srv = httptest.NewServer(g.m.Handler(health, log))
	t.Cleanup(g.srv.Close) // before Follow stops
	return g
}

// wait waits until Follow has counted a change that matches, once per
// change: one transaction's changes arrive in any order, so what was
// read while waiting for something else is kept for later waits. It fails
// the test, naming what, if no such change comes within mpatest.Bound.
func (g *gate) wait(what string, match func(mpa.Change) bool) {
	g.t.Helper()
	for i, c := range g.history {
		if match(c) {
			g.history = append(g.history[:i], g.history[i+1:]...)
			return
		}
	}
	timer := time.NewTimer(mpatest.Bound)
	defer timer.Stop()
	for {
		select {
		case c := <-g.seen:
			if match(c) {
				return
			}
			g.history = append(g.history, c)
		case <-timer.C:
			g.t.Fatalf("gave up after %v waiting for Follow to count %s (%d other changes seen)",
				mpatest.Bound, what, len(g.history))
		}
	}
}

// waitEvent waits until Follow has counted an audit event of kind.
func (g *gate) waitEvent(kind string) {
	g.t.Helper()
	g.wait("audit event "+kind, func(c mpa.Change) bool { return c.Kind == mpa.ChangeAudit && c.Audit.Kind == kind })
}

// waitRequest waits until Follow has seen request id become st.
func (g *gate) waitRequest(id string, st mpa.Status) {
	g.t.Helper()
	g.wait(fmt.Sprintf("request %s becoming %s", id, st), func(c mpa.Change) bool {
		return c.Kind == mpa.ChangeRequest && c.Request.ID == id && c.Request.Status == st
	})
}

// scrape reads /metrics over HTTP and returns each sample by its series
// ("name{labels}") .
func (g *gate) scrape() map[string]float64 {
	g.t.Helper()
	resp, err := http.Get(g.srv.URL + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			g.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func (g *gate) create() mpa.Request {
	g.t.Helper()
	r, err := g.Svc.Create(g.ctx, mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target:  "web-1", Command: "kill -9 1", Requester: "alice",
	})
	if err != nil {
		g.t.Fatal(err)
	}
	g.waitEvent("request.created")
	g.waitRequest(r.ID, mpa.StatusPending)
	return r
}

func (g *gate) approve(id, name string) {
	g.t.Helper()
	if _, err := g.Svc.Approve(g.ctx, id, name, mpa.VoteInput{Code: g.Code(name)}); err != nil {
		g.t.Fatal(err)
	}
	g.waitEvent("request.approval")
}

func wantMoved(t *testing.T, before, after map[string]float64, series string, by float64) {
	t.Helper()
	if got := after[series] - before[series]; got != by {
		t.Errorf("%s moved by %v (%v -> %v); want %v", series, got, before[series], after[series], by)
	}
}

// A decision, a request, approvals, a bad code, a release and a session
// move their series, as a scrape over HTTP shows.
func TestScrapeCountersMove(t *testing.T) {
	g := newGate(t)
	before := g.scrape()

	g.m.Session(SessionTarget)
	g.m.Session(SessionConsole)
	g.m.DialError("web-2", errors.New("connection refused"))
	if _, err := g.Svc.Record(g.ctx, audit.Event{Kind: "decision", Actor: "alice", Target: "web-1",
		Data: audit.Data(map[string]any{"verdict": "hold", "command": "kill -9 1"})}); err != nil {
		t.Fatal(err)
	}
	g.waitEvent("decision")
	r := g.create()
	mid := g.scrape()
	wantMoved(t, before, mid, `keyturn_requests_open{status="pending"}`, 1)

	if _, err := g.Svc.Approve(g.ctx, r.ID, "bob", mpa.VoteInput{Code: "000000"}); !errors.Is(err, mpa.ErrBadCode) {
		t.Fatalf("Approve with a bad code = %v; want ErrBadCode", err)
	}
	g.waitEvent("totp.failed")
	g.approve(r.ID, "bob")
	g.approve(r.ID, "carol")
	if _, err := g.Svc.BeginExecution(g.ctx, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	g.Clock.Advance(3 * time.Second)
	if _, err := g.Svc.FinishExecution(g.ctx, r.ID, mpa.ExecResult{ExitStatus: 0}); err != nil {
		t.Fatal(err)
	}
	g.waitEvent("request.completed")
	g.waitRequest(r.ID, mpa.StatusCompleted)

	after := g.scrape()
	wantMoved(t, before, after, `keyturn_sessions_total{kind="target"}`, 1)
	wantMoved(t, before, after, `keyturn_sessions_total{kind="console"}`, 1)
	wantMoved(t, before, after, `keyturn_sessions_total{kind="gate"}`, 0)
	wantMoved(t, before, after, `keyturn_target_dial_errors_total{target="web-2"}`, 1)
	wantMoved(t, before, after, `keyturn_decisions_total{verdict="hold"}`, 1)
	wantMoved(t, before, after, `keyturn_decisions_total{verdict="allow"}`, 0)
	wantMoved(t, before, after, `keyturn_approvals_total`, 2)
	wantMoved(t, before, after, `keyturn_rejections_total`, 0)
	wantMoved(t, before, after, `keyturn_totp_failures_total{reason="bad"}`, 1)
	wantMoved(t, before, after, `keyturn_requests_open{status="pending"}`, 0)
	wantMoved(t, before, after, `keyturn_requests_open{status="executing"}`, 0)
	wantMoved(t, before, after, `keyturn_requests_finished_total{status="completed"}`, 1)
	wantMoved(t, before, after, `keyturn_exec_duration_seconds_count`, 1)
	wantMoved(t, before, after, `keyturn_exec_duration_seconds_sum`, 3)
	wantMoved(t, before, after, `keyturn_audit_events_total{kind="request.approval"}`, 2)
}

// The open-request gauges start from the requests already in the store,
// and a rejection moves its counter and empties the gauge.
func TestGaugeSeededAndRejection(t *testing.T) {
	g := newGate(t)
	r := g.create()
	// A second Metrics started now sees the pending request at once.
	m2 := New()
	done := make(chan struct{})
	var got int // the rejection's two changes, in any order
	m2.handled = func(c mpa.Change) {
		if c.Kind == mpa.ChangeAudit && c.Audit.Kind == "request.rejection" ||
			c.Kind == mpa.ChangeRequest && c.Request.Status == mpa.StatusRejected {
			if got++; got == 2 {
				close(done)
			}
		}
	}
	stop := g.follow(m2, g.Store, "a second Follow")
	wantGauge(t, m2, "keyturn_requests_open", "pending", 1, "pending on a fresh Follow")
	if _, err := g.Svc.Reject(g.ctx, r.ID, "bob", mpa.VoteInput{Code: g.Code("bob"), Comment: "no"}); err != nil {
		t.Fatal(err)
	}
	mpatest.Closed(t, done, "the second Follow to count the rejection's two changes")
	wantGauge(t, m2, "keyturn_requests_open", "pending", 0, "pending after the rejection")
	wantGauge(t, m2, "keyturn_rejections_total", "", 1, "rejections")
	stop()
}

// follow starts m following st (g's store, or one wrapping it) and waits
// until it has seeded its gauges. stop ends it and waits for it to end;
// what names it in a failure.
func (g *gate) follow(m *Metrics, st mpa.Store, what string) (stop func()) {
	g.t.Helper()
	ctx, cancel := context.WithCancel(g.ctx)
	g.t.Cleanup(cancel) // if the test ends before stop
	followed := make(chan error, 1)
	started := make(chan struct{})
	m.seeded = func() { close(started) }
	go func() { followed <- m.Follow(ctx, st, g.Svc) }()
	mpatest.Closed(g.t, started, what+" to seed its gauges")
	return func() {
		g.t.Helper()
		cancel()
		mpatest.Recv(g.t, followed, what+" to end with its context")
	}
}

// wantGauge checks one series of m's registry; what names it in a failure.
func wantGauge(t *testing.T, m *Metrics, name, label string, want float64, what string) {
	t.Helper()
	if got := gauge(t, m, name, label); got != want {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

// gauge reads one series from m's registry.
func gauge(t *testing.T, m *Metrics, name, label string) float64 {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if label != "" && (len(s.GetLabel()) == 0 || s.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// /healthz answers 200 while the store reads and 503 once it cannot.
func TestHealthz(t *testing.T) {
	g := newGate(t)
	get := func() int {
		resp, err := http.Get(g.srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got != http.StatusOK {
		t.Errorf("GET /healthz on a live store = %d; want 200", got)
	}
	g.Store.Close()
	if got := get(); got != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz on a closed store = %d; want 503", got)
	}
}

// Counting a session is an atomic add: no allocation on the hot path.
func TestSessionAllocs(t *testing.T) {
	m := New()
	if n := testing.AllocsPerRun(100, func() { m.Session(SessionTarget) }); n != 0 {
		t.Errorf("Session allocates %v times; want 0", n)
	}
}
