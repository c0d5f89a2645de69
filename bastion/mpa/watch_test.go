package mpa_test

import (
	"context"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// next reads one update or fails; the timeout only bounds a broken test,
// it is not how the test synchronises.
func next(t *testing.T, ch <-chan mpa.Request) mpa.Request {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10s")
	}
	panic("unreachable")
}

// watch is Service.Watch on request id, or fails the test.
func (e *env) watch(ctx context.Context, id string) <-chan mpa.Request {
	e.t.Helper()
	ch, err := e.svc.Watch(ctx, id)
	if err != nil {
		e.t.Fatalf("watch %s: %v", id, err)
	}
	return ch
}

func TestWatch(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol")
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	ch := e.watch(ctx, r.ID)
	all, err := e.svc.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, ch); got.Status != mpa.StatusPending || len(got.Approvals) != 0 {
		t.Fatalf("first update %s %d", got.Status, len(got.Approvals))
	}
	if got := next(t, all); got.ID != r.ID {
		t.Fatalf("WatchAll snapshot %s", got.ID)
	}
	e.mustApprove(r.ID, "bob")
	if got := next(t, ch); len(got.Approvals) != 1 || got.Approvals[0].Approver != "bob" {
		t.Fatalf("after bob: %+v", got.Approvals)
	}
	e.mustApprove(r.ID, "carol")
	if got := next(t, ch); got.Status != mpa.StatusApproved {
		t.Fatalf("after carol: %s", got.Status)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := next(t, ch); got.Status != mpa.StatusExecuting {
		t.Fatalf("after release: %s", got.Status)
	}
	if _, err := e.svc.FinishExecution(e.ctx, r.ID, mpa.ExecResult{}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, ch); got.Status != mpa.StatusCompleted {
		t.Fatalf("after finish: %s", got.Status)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("watch not closed after a final status")
		}
	case <-time.After(mpatest.Bound):
		t.Fatalf("gave up after %v waiting for the watch to close after a final status", mpatest.Bound)
	}
	// The queue saw the same request go through every state.
	seen := map[mpa.Status]bool{}
	for !seen[mpa.StatusCompleted] {
		if got := next(t, all); got.ID == r.ID {
			seen[got.Status] = true
		}
	}
	for _, st := range []mpa.Status{mpa.StatusApproved, mpa.StatusExecuting} {
		if !seen[st] {
			t.Errorf("WatchAll never showed %s", st)
		}
	}
}

// Run expires a pending request when it falls due, woken by its timer.
func TestRunExpires(t *testing.T) {
	e := newEnv(t, mpa.Options{Lifecycle: mpa.Lifecycle{PendingTTL: time.Hour}})
	r := e.create("alice", 2)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	ch := e.watch(ctx, r.ID)
	next(t, ch)
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	e.clock.Advance(time.Hour)
	// Any request change re-plans the timer; creating one makes Run see
	// the moved clock now rather than at its hourly check.
	e.create("alice", 2)
	if got := next(t, ch); got.Status != mpa.StatusExpired {
		t.Fatalf("after TTL with Run: %s; want expired", got.Status)
	}
	cancel()
	if err := mpatest.Recv(t, done, "Run to end with its context"); err != nil {
		t.Fatal(err)
	}
}
