package mpa_test

import (
	"errors"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// A pending request and an executing one survive the store closing (a
// restart); at startup the executing one becomes Interrupted and can never
// be released again.
func TestRestartRecoversInterrupted(t *testing.T) {
	dir := t.TempDir()
	open := func() *badgerstore.Store {
		st, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	clock := mpatest.NewClock(start)
	st := open()
	e := newEnvOn(t, st, clock, mpa.Options{})
	e.Register("bob")
	pending := e.create("alice", 1)
	running := e.create("alice", 1)
	e.mustApprove(running.ID, "bob")
	if _, err := e.svc.BeginExecution(e.ctx, running.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	// The gate dies here, mid-command. Closing stands in for the crash:
	// every write was synced when its transaction returned.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	secrets := e.Secrets
	e = newEnvOn(t, st, clock, mpa.Options{})
	e.Secrets = secrets

	got, err := e.svc.Get(e.ctx, pending.ID)
	if err != nil || got.Status != mpa.StatusPending || got.Command != "kill -9 4242" {
		t.Fatalf("pending after restart = %+v, %v", got, err)
	}
	// Another gate's recovery does not touch this gate's run.
	other := mpa.New(st, mpa.Options{Now: clock.Now, Logger: testLogger(t), Node: "gate-2"})
	if n, err := other.RecoverInterrupted(e.ctx); err != nil || len(n) != 0 {
		t.Fatalf("gate-2 recovered %v, %v; want nothing", n, err)
	}
	rec, err := e.svc.RecoverInterrupted(e.ctx)
	if err != nil || len(rec) != 1 || rec[0].ID != running.ID || rec[0].Status != mpa.StatusInterrupted {
		t.Fatalf("RecoverInterrupted = %+v, %v", rec, err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, running.ID, "alice"); !errors.Is(err, mpa.ErrAlreadyReleased) {
		t.Fatalf("release after interruption: %v; want ErrAlreadyReleased", err)
	}
	if rec, _ := e.svc.RecoverInterrupted(e.ctx); len(rec) != 0 {
		t.Fatalf("second recovery: %v", rec)
	}
	// The pending one still works.
	e.Step()
	if got := e.mustApprove(pending.ID, "bob"); got.Status != mpa.StatusApproved {
		t.Fatalf("pending request after restart: %s", got.Status)
	}
	e.verifyAudit()
}
