package notify

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
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

// runNotifier runs n on g's store until the test ends; it returns once
// n follows the store.
func (g *gate) runNotifier(n *Notifier) {
	g.t.Helper()
	ctx, cancel := context.WithCancel(g.ctx)
	ready := make(chan struct{})
	n.ready = func() { close(ready) }
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, g.Store, g.Svc) }()
	select {
	case <-ready:
	case err := <-done:
		g.t.Fatalf("notifier Run = %v before it followed the store", err)
	case <-time.After(mpatest.Bound):
		g.t.Fatalf("gave up after %v waiting for the notifier to follow the store", mpatest.Bound)
	}
	g.t.Cleanup(func() {
		cancel()
		if err := mpatest.Recv(g.t, done, "the notifier to end with its context"); err != nil && err != context.Canceled {
			g.t.Errorf("notifier Run = %v", err)
		}
	})
}
