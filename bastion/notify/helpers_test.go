package notify

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// gate is a real Service on an in-memory Badger store with approvers bob
// and carol registered with oathtool codes.
type gate struct {
	t       *testing.T
	ctx     context.Context
	log     *slog.Logger
	clock   *mpatest.Clock
	store   *badgerstore.Store
	svc     *mpa.Service
	secrets map[string]string
}

func newGate(t *testing.T) *gate {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := mpatest.NewClock(start)
	g := &gate{t: t, ctx: t.Context(), log: log, clock: clock, store: st,
		svc:     mpa.New(st, mpa.Options{Now: clock.Now, Logger: log, Node: "gate-1"}),
		secrets: map[string]string{}}
	for _, name := range []string{"bob", "carol"} {
		reg, err := g.svc.InitiateRegistration(g.ctx, name, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.svc.CompleteRegistration(g.ctx, name, mpatest.Oathtool(t, reg.Secret, clock.Now())); err != nil {
			t.Fatal(err)
		}
		g.secrets[name] = reg.Secret
	}
	return g
}

// code returns a fresh code for approver name, one TOTP step on.
func (g *gate) code(name string) string {
	g.clock.Advance(30 * time.Second)
	return mpatest.Oathtool(g.t, g.secrets[name], g.clock.Now())
}

func (g *gate) create(cmd string) mpa.Request {
	g.t.Helper()
	r, err := g.svc.Create(g.ctx, mpa.NewRequest{
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
	in := mpa.VoteInput{Code: g.code(name), Comment: "not now"}
	var err error
	if approve {
		_, err = g.svc.Approve(g.ctx, id, name, in)
	} else {
		_, err = g.svc.Reject(g.ctx, id, name, in)
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
	if _, err := g.svc.BeginExecution(g.ctx, id, "alice"); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.svc.FinishExecution(g.ctx, id, mpa.ExecResult{ExitStatus: exit}); err != nil {
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
	go func() { done <- n.Run(ctx, g.store, g.svc) }()
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
