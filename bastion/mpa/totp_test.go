package mpa_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

func TestReplayedCodeRefused(t *testing.T) {
	e, r1 := newPending(t, 2, "bob", "carol")
	r2 := e.create("alice", 2)

	code := e.Code("bob")
	if _, err := e.svc.Approve(e.ctx, r1.ID, "bob", mpa.VoteInput{Code: code}); err != nil {
		t.Fatal(err)
	}
	// The same code on another request: replayed.
	if _, err := e.svc.Approve(e.ctx, r2.ID, "bob", mpa.VoteInput{Code: code}); !errors.Is(err, mpa.ErrReplayedCode) {
		t.Fatalf("same code twice: %v; want ErrReplayedCode", err)
	}
	// A code from the step before (within skew, never used): older than
	// the last step used, so refused too.
	older := mpatest.Oathtool(t, e.Secrets["bob"], e.clock.Now().Add(-30*time.Second))
	if _, err := e.svc.Approve(e.ctx, r2.ID, "bob", mpa.VoteInput{Code: older}); !errors.Is(err, mpa.ErrReplayedCode) {
		t.Fatalf("older step's code: %v; want ErrReplayedCode", err)
	}
	// The next step's code (skew +1) is later, so it is accepted.
	next := mpatest.Oathtool(t, e.Secrets["bob"], e.clock.Now().Add(30*time.Second))
	if _, err := e.svc.Approve(e.ctx, r2.ID, "bob", mpa.VoteInput{Code: next}); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
	// Two steps ahead is outside the skew.
	far := mpatest.Oathtool(t, e.Secrets["carol"], e.clock.Now().Add(90*time.Second))
	if _, err := e.svc.Approve(e.ctx, r2.ID, "carol", mpa.VoteInput{Code: far}); !errors.Is(err, mpa.ErrBadCode) {
		t.Fatalf("code 3 steps ahead: %v; want ErrBadCode", err)
	}

	if replays := e.kinds(audit.Filter{User: "bob"})["totp.replayed"]; replays != 2 {
		t.Fatalf("%d totp.replayed events for bob; want 2", replays)
	}
	e.verifyAudit()
}

func TestLockout(t *testing.T) {
	e := newEnv(t, mpa.Options{LockoutThreshold: 5, LockoutDuration: 5 * time.Minute})
	e.Register("bob")
	r := e.create("alice", 1)
	for i := range 4 {
		if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: "000000"}); !errors.Is(err, mpa.ErrBadCode) || errors.Is(err, mpa.ErrLockedOut) {
			t.Fatalf("bad code %d: %v; want ErrBadCode", i+1, err)
		}
	}
	a, err := e.svc.Approver(e.ctx, "bob")
	if err != nil || a.Failures != 4 {
		t.Fatalf("failures after 4 bad codes = %d, %v; the counter must persist", a.Failures, err)
	}
	_, err = e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: "000000"})
	if !errors.Is(err, mpa.ErrBadCode) || !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("fifth bad code: %v; want ErrBadCode and ErrLockedOut", err)
	}
	var locked *mpa.LockedOutError
	if !errors.As(err, &locked) || !locked.Until.Equal(e.clock.Now().Add(5*time.Minute)) {
		t.Fatalf("lockout error %v; want until %v", err, e.clock.Now().Add(5*time.Minute))
	}
	// Even a good code is refused while locked out.
	e.Step()
	if _, err := e.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("good code while locked out: %v; want ErrLockedOut", err)
	}
	e.clock.Advance(5 * time.Minute)
	got, err := e.approve(r.ID, "bob")
	if err != nil || got.Status != mpa.StatusApproved {
		t.Fatalf("after lockout: %s, %v; want approved", got.Status, err)
	}
	a, _ = e.svc.Approver(e.ctx, "bob")
	if a.Failures != 0 || a.Secret != "" || a.PendingSecret != "" {
		t.Fatalf("approver after good code: %+v; want no failures and no secrets shown", a)
	}
	kinds := e.kinds(audit.Filter{User: "bob"})
	if kinds["totp.failed"] != 5 || kinds["totp.lockout"] != 1 || kinds["totp.locked_out"] != 1 {
		t.Fatalf("audit kinds for bob: %v", kinds)
	}
	e.verifyAudit()
}
