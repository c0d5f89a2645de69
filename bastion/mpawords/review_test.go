package mpawords_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

// The wrong code that locks an approver out is a lockout, as the sentence
// says, with the lockout's status (NotPermitted), not BadCode: a script
// that retries on BadCode with the next code would only add locked
// attempts to the audit trail. The service returns that error as the bad
// code joined with the lockout; before mpawords, mpacli's failVote read
// the lockout first (exit 77); mpawords' table met ErrBadCode first and
// said 65 under a "you are locked out" sentence.
func TestReviewLockingWrongCodeIsALockout(t *testing.T) {
	f := svctest.New(t, "bob")
	ctx := t.Context()
	r, err := f.Svc.Create(ctx, mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}}, Target: "t1",
		Command: "kill 1", Requester: "alice", RequiredApprovals: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 10; i++ {
		f.Clock.Advance(30 * time.Second)
		_, err := f.Svc.Approve(ctx, r.ID, "bob", mpa.VoteInput{Code: "000000"})
		if err == nil {
			t.Fatal("a wrong code was accepted")
		}
		if i == 0 {
			// A plain wrong code is BadCode, so the check below can fail.
			if s, code := mpawords.Error(err, exitcode.Command, mpawords.Subject{Who: "bob", Request: r.ID}); code != exitcode.BadCode {
				t.Fatalf("first wrong code: %q, status %d; want %d", s, code, exitcode.BadCode)
			}
		}
		var locked *mpa.LockedOutError
		if errors.As(err, &locked) {
			last = err
			break
		}
	}
	if last == nil {
		t.Fatal("ten wrong codes did not lock bob out")
	}
	if !errors.Is(last, mpa.ErrBadCode) && !errors.Is(last, mpa.ErrReplayedCode) {
		t.Fatalf("the locking error %v is not also the bad code; the test no longer covers the joined error", last)
	}
	s, code := mpawords.Error(last, exitcode.Command, mpawords.Subject{Who: "bob", Request: r.ID})
	if !strings.Contains(s, "locked out") {
		t.Errorf("locking wrong code reads %q; want the lockout", s)
	}
	if code != exitcode.NotPermitted {
		t.Errorf("locking wrong code: status %d under %q; want %d (NotPermitted, as every lockout)", code, s, exitcode.NotPermitted)
	}
	// And a later attempt while locked, for comparison: the same status.
	f.Clock.Advance(30 * time.Second)
	_, err = f.Svc.Approve(ctx, r.ID, "bob", mpa.VoteInput{Code: f.Code("bob")})
	if !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("approve while locked: %v; want a lockout", err)
	}
	if _, c := mpawords.Error(err, exitcode.Command, mpawords.Subject{Who: "bob"}); c != code {
		t.Errorf("while locked: status %d; the locking code: %d; want the same", c, code)
	}
}
