package mpa_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/keyturn/keyturn/bastion/mpa"
)

func TestEnableNeedsTwoApprovers(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	if _, err := e.svc.SetEnabled(e.ctx, "root", true); !errors.Is(err, mpa.ErrNotEnoughApprovers) {
		t.Fatalf("enable with none: %v; want ErrNotEnoughApprovers", err)
	}
	e.Register("bob")
	if _, err := e.svc.SetEnabled(e.ctx, "root", true); !errors.Is(err, mpa.ErrNotEnoughApprovers) {
		t.Fatalf("enable with one: %v; want ErrNotEnoughApprovers", err)
	}
	e.Register("carol")
	if held, err := e.svc.SetEnabled(e.ctx, "root", true); err != nil || held != nil {
		t.Fatalf("enable with two = %v, %v", held, err)
	}
	st, err := e.svc.Settings(e.ctx)
	if err != nil || !st.Enabled || st.UpdatedBy != "root" {
		t.Fatalf("settings = %+v, %v", st, err)
	}
}

func TestDisableIsHeld(t *testing.T) {
	e := newEnv(t, mpa.Options{DefaultQuorum: 2})
	e.Register("bob", "carol", "dave")
	e.enable("root")
	held, err := e.svc.SetEnabled(e.ctx, "bob", false)
	if err != nil || held == nil || held.Kind != mpa.KindDisableMPA || held.RequiredApprovals != 2 {
		t.Fatalf("disable = %+v, %v; want a held disable_mpa request with quorum 2", held, err)
	}
	again, err := e.svc.SetEnabled(e.ctx, "bob", false)
	if err != nil || again == nil || again.ID != held.ID {
		t.Fatalf("second disable = %+v, %v; want the same request %s", again, err, held.ID)
	}
	if st, _ := e.svc.Settings(e.ctx); !st.Enabled {
		t.Fatal("MPA disabled before approval")
	}
	if _, err := e.approve(held.ID, "bob"); !errors.Is(err, mpa.ErrSelfApproval) {
		t.Fatalf("requester approving disable: %v", err)
	}
	e.mustApprove(held.ID, "carol")
	if st, _ := e.svc.Settings(e.ctx); !st.Enabled {
		t.Fatal("MPA disabled after one of two approvals")
	}
	r := e.mustApprove(held.ID, "dave")
	if r.Status != mpa.StatusCompleted {
		t.Fatalf("disable request after quorum: %s; want completed", r.Status)
	}
	if st, _ := e.svc.Settings(e.ctx); st.Enabled {
		t.Fatal("MPA still enabled after the disable request was approved")
	}
	e.verifyAudit()
}

func TestRegistrationHeldWhileEnabled(t *testing.T) {
	e := newEnv(t, mpa.Options{DefaultQuorum: 2})
	e.Register("bob", "carol")
	e.enable("root")
	reg, err := e.svc.InitiateRegistration(e.ctx, "mallory", false)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Issuer != "keyturn" || reg.URL == "" || reg.Secret == "" {
		t.Fatalf("registration %+v", reg)
	}
	e.Secrets["mallory"] = reg.Secret
	a, held, err := e.svc.CompleteRegistration(e.ctx, "mallory", e.Code("mallory"))
	if err != nil || held == nil || held.Kind != mpa.KindRegisterApprover || a.Status != mpa.PendingApproval {
		t.Fatalf("complete while enabled = %+v, %+v, %v; want held", a, held, err)
	}
	// Not an approver yet: cannot approve anything.
	victim := e.create("alice", 1)
	e.Step()
	if _, err := e.approve(victim.ID, "mallory"); !errors.Is(err, mpa.ErrNotApprover) {
		t.Fatalf("held newcomer approving: %v; want ErrNotApprover", err)
	}
	e.mustApprove(held.ID, "bob")
	r := e.mustApprove(held.ID, "carol")
	if r.Status != mpa.StatusCompleted {
		t.Fatalf("registration request after quorum: %s", r.Status)
	}
	e.Step()
	if got := e.mustApprove(victim.ID, "mallory"); got.Status != mpa.StatusApproved {
		t.Fatalf("registered newcomer's approval: %s", got.Status)
	}

	// Forced re-registration is held too, and the old secret stays in
	// force until it is approved.
	reg2, err := e.svc.InitiateRegistration(e.ctx, "bob", true)
	if err != nil {
		t.Fatal(err)
	}
	e.Step()
	_, held2, err := e.svc.CompleteRegistration(e.ctx, "bob", mpatest.Oathtool(t, reg2.Secret, e.clock.Now()))
	if err != nil || held2 == nil {
		t.Fatalf("forced re-registration = %v, %v; want held", held2, err)
	}
	if _, err := e.svc.InitiateRegistration(e.ctx, "carol", false); !errors.Is(err, mpa.ErrAlreadyRegistered) {
		t.Fatalf("re-registration without force: %v", err)
	}
	e.verifyAudit()
}

func TestBreakGlassOnlyRegistration(t *testing.T) {
	e := newEnv(t, mpa.Options{DefaultQuorum: 2})
	e.Register("bob", "carol")
	e.enable("root")
	cmd := e.create("alice", 2)
	disable, err := e.svc.SetEnabled(e.ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BreakGlassRegisterApprover(e.ctx, "alice"); !errors.Is(err, mpa.ErrNotFound) {
		t.Fatalf("break-glass with no registration pending: %v; want ErrNotFound", err)
	}
	reg, err := e.svc.InitiateRegistration(e.ctx, "dave", false)
	if err != nil {
		t.Fatal(err)
	}
	e.Secrets["dave"] = reg.Secret
	_, held, err := e.svc.CompleteRegistration(e.ctx, "dave", e.Code("dave"))
	if err != nil || held == nil {
		t.Fatal(held, err)
	}
	r, err := e.svc.BreakGlassRegisterApprover(e.ctx, "dave")
	if err != nil || r.ID != held.ID || r.Status != mpa.StatusCompleted {
		t.Fatalf("break-glass = %+v, %v", r, err)
	}
	if a, _ := e.svc.Approver(e.ctx, "dave"); a.Status != mpa.Registered {
		t.Fatalf("dave after break-glass: %s", a.Status)
	}
	// Nothing else moved.
	for _, id := range []string{cmd.ID, disable.ID} {
		if got, _ := e.svc.Get(e.ctx, id); got.Status != mpa.StatusPending {
			t.Fatalf("%s (%s) after break-glass: %s; want pending", id, got.Kind, got.Status)
		}
	}
	if st, _ := e.svc.Settings(e.ctx); !st.Enabled {
		t.Fatal("break-glass disabled MPA")
	}
	found := false
	for _, ev := range e.events(auditFilterRequest(r.ID)) {
		if ev.Kind == "breakglass.register_approver" {
			var d map[string]string
			json.Unmarshal(ev.Data, &d)
			found = d["approver"] == "dave"
		}
	}
	if !found {
		t.Fatal("break-glass not audited")
	}
	e.verifyAudit()
}

func TestCreateRefusesInternalKinds(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	for _, k := range []mpa.Kind{mpa.KindRegisterApprover, mpa.KindDisableMPA, "bogus"} {
		_, err := e.svc.Create(e.ctx, mpa.NewRequest{Kind: k, Requester: "alice", Payload: []byte(`{"approver":"alice"}`)})
		if !errors.Is(err, mpa.ErrInvalid) {
			t.Errorf("Create(kind %q) = %v; want ErrInvalid", k, err)
		}
	}
}

func TestUpdatePolicyCompletesOnQuorum(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	e.Register("bob", "carol")
	r, err := e.svc.Create(e.ctx, mpa.NewRequest{Kind: mpa.KindUpdatePolicy,
		Actions: []mpa.ActionRef{mpa.ActionUpdatePolicy}, Requester: "alice",
		Payload: json.RawMessage(`{"policy":"rules: []"}`), RequiredApprovals: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.mustApprove(r.ID, "bob")
	if got := e.mustApprove(r.ID, "carol"); got.Status != mpa.StatusCompleted || string(got.Payload) != `{"policy":"rules: []"}` {
		t.Fatalf("update_policy after quorum: %s %s", got.Status, got.Payload)
	}
}
