package mpa_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// A lockout is stored with the approver, not held in the Service: a gate
// restarted (a new Service on the same store) still refuses the approver,
// even with a good code.
func TestAdversarialLockoutSurvivesRestart(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol")
	for i := 0; i < 5; i++ {
		if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: "000000"}); err == nil {
			t.Fatal("a bad code was accepted")
		}
	}
	restarted := newEnvOn(t, e.store, e.clock, mpa.Options{})
	restarted.Secrets = e.Secrets
	restarted.Step()
	if _, err := restarted.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("locked-out approver after a restart: %v; want ErrLockedOut", err)
	}
	// Re-registering does not lift it either while the lockout runs.
	reg, err := restarted.svc.InitiateRegistration(e.ctx, "bob", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := restarted.svc.CompleteRegistration(e.ctx, "bob", mpatest.Oathtool(t, reg.Secret, e.clock.Now())); !errors.Is(err, mpa.ErrLockedOut) {
		t.Fatalf("re-registration while locked out: %v; want ErrLockedOut", err)
	}
	if got, _ := restarted.svc.Get(e.ctx, r.ID); len(got.Approvals) != 0 {
		t.Fatalf("approvals %v; want none", got.Approvals)
	}
}

// The gate's role check (CanApprove) is the service's: a registered
// approver whose role was taken away cannot vote, and their code is not
// consumed by the refusal.
func TestAdversarialRoleCheckedAtVote(t *testing.T) {
	e := newEnv(t, mpa.Options{CanApprove: func(u string, _ []mpa.ActionRef) bool { return u != "bob" }})
	e.Register("bob", "carol")
	r := e.create("alice", 1)
	code := e.Code("bob")
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: code}); !errors.Is(err, mpa.ErrNotAllowed) {
		t.Fatalf("approver without the role: %v; want ErrNotAllowed", err)
	}
	if got, _ := e.svc.Get(e.ctx, r.ID); got.Status != mpa.StatusPending || len(got.Approvals) != 0 {
		t.Fatalf("request %s with %d approvals; want pending with none", got.Status, len(got.Approvals))
	}
}

// A forced re-registration while MPA is enabled: the approver cannot
// approve their own registration request, the new secret does not vote
// until others approve it, and the old one still does.
func TestAdversarialReregistrationNeedsOthers(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	e.Register("bob", "carol", "dave")
	e.enable("carol")
	reg, err := e.svc.InitiateRegistration(e.ctx, "bob", true)
	if err != nil {
		t.Fatal(err)
	}
	_, held, err := e.svc.CompleteRegistration(e.ctx, "bob", mpatest.Oathtool(t, reg.Secret, e.clock.Now()))
	if err != nil || held == nil {
		t.Fatalf("forced re-registration while enabled: %v, %v; want held", held, err)
	}
	e.Step()
	if _, err := e.approve(held.ID, "bob"); !errors.Is(err, mpa.ErrSelfApproval) {
		t.Fatalf("bob approving his own re-registration: %v; want ErrSelfApproval", err)
	}
	r := e.create("alice", 2)
	e.Step()
	newCode := mpatest.Oathtool(t, reg.Secret, e.clock.Now())
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: newCode}); !errors.Is(err, mpa.ErrBadCode) {
		t.Fatalf("vote with the not yet approved secret: %v; want ErrBadCode", err)
	}
	e.Step()
	if _, err := e.approve(r.ID, "bob"); err != nil {
		t.Fatalf("vote with the secret in force: %v", err)
	}
	// A second identity for bob cannot be made by bob alone: one more
	// approval of his registration (carol) is not a quorum of two.
	got := e.mustApprove(held.ID, "carol")
	if got.Status != mpa.StatusPending {
		t.Fatalf("re-registration after one approval: %s; want pending", got.Status)
	}
}

// A consent that lapsed (valid-before passed) does not count towards the
// quorum, and a valid-before in the past is refused.
func TestAdversarialLapsedApprovalDoesNotCount(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol", "dave")
	past := e.clock.Now().Add(-time.Second)
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: e.Code("bob"), ValidBefore: past}); !errors.Is(err, mpa.ErrInvalid) {
		t.Fatalf("valid-before in the past: %v; want ErrInvalid", err)
	}
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: e.Code("bob"), ValidBefore: e.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if got := e.mustApprove(r.ID, "carol"); got.Status != mpa.StatusPending {
		t.Fatalf("one live approval and one lapsed: %s; want pending", got.Status)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrNotApproved) {
		t.Fatalf("release without a live quorum: %v; want ErrNotApproved", err)
	}
}

// A lapsed valid-before neither counts towards quorum nor cuts short the
// approval that a live quorum gives.
func TestAdversarialLapsedApprovalDoesNotExpireLiveQuorum(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol", "dave")
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: e.Code("bob"), ValidBefore: e.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	e.mustApprove(r.ID, "carol")
	got := e.mustApprove(r.ID, "dave")
	if got.Status != mpa.StatusApproved || !got.ExpiresAt.After(e.clock.Now()) {
		t.Fatalf("live quorum (carol, dave): %s, expires %s (now %s); want approved and not yet expired",
			got.Status, got.ExpiresAt, e.clock.Now())
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); err != nil {
		t.Fatalf("release of a request approved by a live quorum: %v", err)
	}
}

// An update_policy request made against a policy that has since been
// replaced is cancelled at quorum, not applied: applying it would undo the
// newer change, which its diff does not show.
func TestAdversarialStalePolicyUpdateIsNotApplied(t *testing.T) {
	e := newEnv(t, mpa.Options{DefaultQuorum: 2})
	p0, p1, p2 := json.RawMessage(`{"text":"p0"}`), json.RawMessage(`{"text":"p1"}`), json.RawMessage(`{"text":"p2"}`)
	if err := e.svc.RecordPolicy(e.ctx, "gate", p0); err != nil {
		t.Fatal(err)
	}
	e.Register("bob", "carol")
	e.enable("root")
	update := func(payload json.RawMessage) mpa.Request {
		r, err := e.svc.Create(e.ctx, mpa.NewRequest{Kind: mpa.KindUpdatePolicy, Actions: []mpa.ActionRef{mpa.ActionUpdatePolicy},
			Requester: mpa.SystemActor, Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	u1, u2 := update(p1), update(p2)
	e.mustApprove(u2.ID, "bob")
	e.mustApprove(u2.ID, "carol")
	e.Step()
	e.mustApprove(u1.ID, "bob")
	got := e.mustApprove(u1.ID, "carol")
	if got.Status != mpa.StatusCancelled {
		t.Errorf("stale update after quorum: %s; want cancelled", got.Status)
	}
	st, err := e.svc.Settings(e.ctx)
	if err != nil || string(st.Policy) != string(p2) {
		t.Fatalf("policy on record = %s, %v; want the newer approved %s", st.Policy, err, p2)
	}
	e.verifyAudit()
}
