package mpa_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// Twenty approvers approve one request needing twenty, all at once: every
// vote counts exactly once and the request becomes Approved once.
func TestConcurrentApprovals(t *testing.T) {
	const n = 20
	e := newEnv(t, mpa.Options{})
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("approver%02d", i)
	}
	e.Register(users...)
	r := e.create("alice", n)
	codes := make([]string, n)
	for i, u := range users {
		codes[i] = e.Code(u) // oathtool runs outside the race
	}

	errs := mpatest.Race(n, func(i int) error {
		_, err := e.svc.Approve(e.ctx, r.ID, users[i], mpa.VoteInput{Code: codes[i]})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", users[i], err)
		}
	}
	e.approvedOnce(r.ID, n)
}

// Many sessions (or gates) try to release one approved request at once:
// exactly one wins.
func TestConcurrentBeginExecution(t *testing.T) {
	const n = 32
	e, r := newPending(t, 1, "bob")
	e.mustApprove(r.ID, "bob")

	// Two Services on one store stand in for two gates.
	other := mpa.New(e.store, mpa.Options{Now: e.clock.Now, Logger: testLogger(t), Node: "gate-2"})
	errs := mpatest.Race(n, func(i int) error {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		_, err := svc.BeginExecution(e.ctx, r.ID, "alice")
		return err
	})
	wins, released := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, mpa.ErrAlreadyReleased):
			released++
		default:
			t.Errorf("BeginExecution: %v", err)
		}
	}
	if wins != 1 || released != n-1 {
		t.Fatalf("%d releases succeeded, %d refused as already released; want 1 and %d", wins, released, n-1)
	}
	e.verifyAudit()
}

// One approver sends the same code for two requests at once: the step is
// consumed in the same transaction as the vote, so only one counts.
func TestConcurrentSameCode(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	e.Register("bob")
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.create("alice", 1).ID
	}
	code := e.Code("bob")
	errs := mpatest.Race(n, func(i int) error {
		_, err := e.svc.Approve(e.ctx, ids[i], "bob", mpa.VoteInput{Code: code})
		return err
	})
	ok := mpatest.Succeeded(t, ids, errs, mpa.ErrReplayedCode, mpa.ErrLockedOut)
	if ok != 1 {
		t.Fatalf("%d approvals with one code; want 1", ok)
	}
}

// Hundreds of sessions starting at once each record a decision; every
// record must land (the gate refuses a command it cannot record), and the
// chain must stay whole.
func TestConcurrentRecordsAllLand(t *testing.T) {
	// On disk with synced writes, as the gate runs: commits are slow
	// enough for concurrent writers to collide.
	st, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvOn(t, st, mpatest.NewClock(start), mpa.Options{})
	const n = 500
	errs := mpatest.Race(n, func(i int) error {
		_, err := e.svc.Record(e.ctx, audit.Event{Kind: "decision", Actor: fmt.Sprintf("user-%d", i)})
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("a concurrent record failed: %v", err)
		}
	}
	if count := e.kinds(audit.Filter{})["decision"]; count != n {
		t.Errorf("%d decision events on record; want %d", count, n)
	}
	e.verifyAudit()
}
