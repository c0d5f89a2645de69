package notify

import (
	"context"
	"testing"

	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// gate is the shared fixture with approvers bob and carol, and the context
// its calls run in (the test's).
type gate struct {
	*svctest.Fixture
	t   *testing.T
	ctx context.Context
}

func newGate(t *testing.T) *gate {
	t.Helper()
	return &gate{Fixture: svctest.New(t, "bob", "carol"), t: t, ctx: t.Context()}
}

func (g *gate) create(cmd string) mpa.Request {
	g.t.Helper()
	r, err := g.Svc.Create(g.ctx, mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target:  "web-1", Command: cmd, Requester: "alice", Reason: "ticket 4711",
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

func (g *gate) vote(id, name string, approve bool) {
	g.t.Helper()
	in := mpa.VoteInput{Code: g.Code(name), Comment: "not now"}
	var err error
	if approve {
		_, err = g.Svc.Approve(g.ctx, id, name, in)
	} else {
		_, err = g.Svc.Reject(g.ctx, id, name, in)
	}
	if err != nil {
		g.t.Fatal(err)
	}
}

// run approves id by bob and carol, releases it and records its end.
func (g *gate) run(id string, exit int) {
	g.t.Helper()
	g.vote(id, "bob", true)
	g.vote(id, "carol", true)
	if _, err := g.Svc.BeginExecution(g.ctx, id, "alice"); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.Svc.FinishExecution(g.ctx, id, mpa.ExecResult{ExitStatus: exit}); err != nil {
		g.t.Fatal(err)
	}
}

// chatNotifier is a Notifier with one endpoint, "chat", at url, that
// retries at once.
func (g *gate) chatNotifier(url string) *Notifier {
	g.t.Helper()
	n, err := New([]Endpoint{endpoint("chat", url)}, Options{Logger: g.Log, Backoff: noBackoff})
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

// runNotifier runs n on g's store until the test ends; it returns once
// n follows the store.
func (g *gate) runNotifier(n *Notifier) {
	g.t.Helper()
	g.startNotifier(n, g.Store)
}

// startNotifier runs n on st (g's store, or one wrapping it) until stop is
// called or the test ends; it returns once n follows the store.
func (g *gate) startNotifier(n *Notifier, st mpa.Store) (stop func()) {
	g.t.Helper()
	ready := make(chan struct{})
	n.ready = func() { close(ready) }
	return svctest.Follow(g.t, g.ctx, "the notifier's Run", ready, func(ctx context.Context) error { return n.Run(ctx, st, g.Svc) })
}
