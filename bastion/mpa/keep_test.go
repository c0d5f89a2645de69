package mpa_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// The refusals that must commit anyway (updateKeep): wrong codes at
// registration count towards the lockout, and the lockout holds against
// the right code afterwards. A refusal whose counter was rolled back
// would let an attacker guess registration codes without end.
func TestRegistrationWrongCodesLockOut(t *testing.T) {
	e := newEnv(t, mpa.Options{LockoutThreshold: 3, LockoutDuration: time.Hour})
	reg, err := e.svc.InitiateRegistration(e.ctx, "bob", false)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if mpatest.Oathtool(t, reg.Secret, e.clock.Now()) == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 2; i++ {
		if _, _, err := e.svc.CompleteRegistration(e.ctx, "bob", wrong); !errors.Is(err, mpa.ErrBadCode) || errors.Is(err, mpa.ErrLockedOut) {
			t.Fatalf("wrong code %d: %v; want ErrBadCode only", i, err)
		}
		a, err := e.svc.Approver(e.ctx, "bob")
		if err != nil || a.Failures != i {
			t.Fatalf("after wrong code %d: failures %d, %v; want %d committed", i, a.Failures, err, i)
		}
	}
	if _, _, err := e.svc.CompleteRegistration(e.ctx, "bob", wrong); !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("third wrong code: %v; want ErrLockedOut", err)
	}
	a, err := e.svc.Approver(e.ctx, "bob")
	if err != nil || !a.LockedUntil.After(e.clock.Now()) {
		t.Fatalf("after the lockout: locked until %v, %v; want a committed lock", a.LockedUntil, err)
	}
	if _, _, err := e.svc.CompleteRegistration(e.ctx, "bob", mpatest.Oathtool(t, reg.Secret, e.clock.Now())); !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("right code while locked out: %v; want ErrLockedOut", err)
	}
	if a, err := e.svc.Approver(e.ctx, "bob"); err != nil || a.Status == mpa.Registered {
		t.Fatalf("bob is %v, %v; want not registered", a.Status, err)
	}
	k := e.kinds(audit.Filter{})
	if k[audit.KindTOTPFailed] != 3 || k[audit.KindTOTPLockout] != 1 || k[audit.KindTOTPLockedOut] != 1 {
		t.Fatalf("audit kinds %v; want 3 %s, 1 %s, 1 %s", k, audit.KindTOTPFailed, audit.KindTOTPLockout, audit.KindTOTPLockedOut)
	}
	e.verifyAudit()
}

// A cancel past the deadline records the expiry (requesterTx) and says
// ErrExpired; a cancel by someone else is refused before that and
// changes nothing, so the sweeper still finds the request due.
func TestCancelPastDeadline(t *testing.T) {
	life := mpa.Lifecycle{PendingTTL: time.Hour, ApprovalTTL: 2 * time.Hour}
	e := newEnv(t, mpa.Options{Lifecycle: life})
	e.Register("bob")
	mine, theirs := e.create("alice", 1), e.create("alice", 1)
	e.clock.Advance(time.Hour)

	if _, err := e.svc.Cancel(e.ctx, theirs.ID, "bob"); !errors.Is(err, mpa.ErrNotRequester) {
		t.Fatalf("bob cancelling alice's expired request: %v; want ErrNotRequester", err)
	}
	r, err := e.svc.Cancel(e.ctx, mine.ID, "alice")
	if !errors.Is(err, mpa.ErrExpired) || r.ID != "" {
		t.Fatalf("cancel past the deadline = %+v, %v; want ErrExpired and no request", r, err)
	}
	expired := e.kinds(auditFilterRequest(mine.ID))[audit.KindRequestExpired]
	if expired != 1 {
		t.Fatalf("%s recorded %d times for the cancelled one; want 1", audit.KindRequestExpired, expired)
	}
	if n := e.kinds(auditFilterRequest(theirs.ID))[audit.KindRequestExpired]; n != 0 {
		t.Fatalf("bob's refused cancel recorded an expiry (%d)", n)
	}
	// Only the request bob tried to cancel is left for the sweeper.
	if n, err := e.svc.ExpireDue(e.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	if _, err := e.svc.Cancel(e.ctx, mine.ID, "alice"); !errors.Is(err, mpa.ErrExpired) && !errors.Is(err, mpa.ErrNotPending) {
		t.Fatalf("cancel of an expired request: %v; want ErrExpired or ErrNotPending", err)
	}
	e.verifyAudit()
}
