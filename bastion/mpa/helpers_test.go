package mpa_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// start is a fixed instant at the beginning of a TOTP step.
var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	t     testing.TB
	ctx   context.Context
	clock *mpatest.Clock
	store mpa.Store
	svc   *mpa.Service
	*mpatest.Approvers
}

func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newEnv opens a real in-memory Badger store and a Service on it; with
// KEYTURN_TEST_STORE=etcd, a store on an embedded etcd under a fresh
// prefix instead, so the same tests check the etcd backend.
func newEnv(t testing.TB, opts mpa.Options) *env {
	t.Helper()
	var st interface {
		mpa.Store
		Close() error
	}
	var err error
	if os.Getenv("KEYTURN_TEST_STORE") == "etcd" {
		st, err = openEtcd(t)
	} else {
		st, err = badgerstore.Open(badgerstore.Options{InMemory: true, Logger: testLogger(t)})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, mpatest.NewClock(start), opts)
}

// etcdServer is the embedded etcd member the tests share under
// KEYTURN_TEST_STORE=etcd, started on first use and stopped by TestMain.
var etcdServer struct {
	once sync.Once
	srv  *etcdtest.Server
	err  error
	n    atomic.Int64
}

func openEtcd(t testing.TB) (*etcdstore.Store, error) {
	etcdServer.once.Do(func() { etcdServer.srv, etcdServer.err = etcdtest.Start() })
	if etcdServer.err != nil {
		return nil, etcdServer.err
	}
	return etcdstore.Open(etcdstore.Options{
		Endpoints: etcdServer.srv.Endpoints,
		Prefix:    fmt.Sprintf("/mpa-test/%d/", etcdServer.n.Add(1)),
		SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Logger:    testLogger(t),
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdServer.srv != nil {
		etcdServer.srv.Stop()
	}
	os.Exit(code)
}

func newEnvOn(t testing.TB, st mpa.Store, clock *mpatest.Clock, opts mpa.Options) *env {
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.Node == "" {
		opts.Node = "gate-1"
	}
	e := &env{t: t, ctx: context.Background(), clock: clock, store: st, svc: mpa.New(st, opts)}
	e.Approvers = mpatest.NewApprovers(t, e.ctx, e.svc, clock)
	return e
}

// enable turns MPA on as user, or fails the test.
func (e *env) enable(user string) {
	e.t.Helper()
	if _, err := e.svc.SetEnabled(e.ctx, user, true); err != nil {
		e.t.Fatalf("enable MPA as %s: %v", user, err)
	}
}

func (e *env) create(requester string, quorum int) mpa.Request {
	e.t.Helper()
	r, err := e.svc.Create(e.ctx, mpa.NewRequest{
		Actions:           []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target:            "web-1",
		Command:           "kill -9 4242",
		Why:               []byte(`{"rule":"kill"}`),
		Requester:         requester,
		Reason:            "stuck worker",
		RequiredApprovals: quorum,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// events is the audit events f selects, in chain order, or fails the
// test.
func (e *env) events(f audit.Filter) []audit.Event {
	e.t.Helper()
	var out []audit.Event
	for ev, err := range e.svc.AuditEvents(e.ctx, f) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// kinds counts the audit events f selects by kind.
func (e *env) kinds(f audit.Filter) map[string]int {
	e.t.Helper()
	n := map[string]int{}
	for _, ev := range e.events(f) {
		n[ev.Kind]++
	}
	return n
}

// newPending is the start most flow tests share: an env with approvers
// registered and alice's command request waiting for quorum approvals.
func newPending(t testing.TB, quorum int, approvers ...string) (*env, mpa.Request) {
	t.Helper()
	e := newEnv(t, mpa.Options{})
	e.Register(approvers...)
	return e, e.create("alice", quorum)
}

func (e *env) approve(id, user string) (mpa.Request, error) {
	e.t.Helper()
	return e.svc.Approve(e.ctx, id, user, mpa.VoteInput{Code: e.Code(user)})
}

func (e *env) mustApprove(id, user string) mpa.Request {
	e.t.Helper()
	r, err := e.approve(id, user)
	if err != nil {
		e.t.Fatalf("approve %s by %s: %v", id, user, err)
	}
	return r
}

func (e *env) verifyAudit() {
	e.t.Helper()
	if err := e.svc.VerifyAudit(e.ctx); err != nil {
		e.t.Fatalf("audit chain: %v", err)
	}
}

// approvedOnce checks that request id is Approved with want approvals, each
// approver counted once, that the chain holds exactly one request.approved
// event for it, and that the chain verifies; it returns the request. The
// races on one request end with it.
func (e *env) approvedOnce(id string, want int) mpa.Request {
	e.t.Helper()
	got, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if got.Status != mpa.StatusApproved || len(got.Approvals) != want {
		e.t.Fatalf("status %s with %d approvals; want approved with %d", got.Status, len(got.Approvals), want)
	}
	seen := map[string]bool{}
	for _, v := range got.Approvals {
		if seen[v.Approver] {
			e.t.Fatalf("%s counted twice", v.Approver)
		}
		seen[v.Approver] = true
	}
	if approved := e.kinds(audit.Filter{Request: id})["request.approved"]; approved != 1 {
		e.t.Fatalf("%d request.approved events; want 1", approved)
	}
	e.verifyAudit()
	return got
}

func auditFilterRequest(id string) audit.Filter { return audit.Filter{Request: id} }
