package mpa_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// The record of the policy in force may change freely while MPA is off,
// only through an approved update_policy request while it is on, and a
// disable_mpa approval keeps it.
func TestPolicyRecord(t *testing.T) {
	e := newEnv(t, mpa.Options{DefaultQuorum: 2})
	v1, v2, v3 := json.RawMessage(`{"text":"v1"}`), json.RawMessage(`{"text":"v2"}`), json.RawMessage(`{"text":"v3"}`)
	policyIs := func(want json.RawMessage) {
		t.Helper()
		st, err := e.svc.Settings(e.ctx)
		if err != nil || string(st.Policy) != string(want) {
			t.Fatalf("Settings.Policy = %s, %v; want %s", st.Policy, err, want)
		}
	}

	if err := e.svc.RecordPolicy(e.ctx, "gate", v1); err != nil {
		t.Fatalf("record while disabled: %v", err)
	}
	if err := e.svc.RecordPolicy(e.ctx, "gate", v2); err != nil {
		t.Fatalf("change while disabled: %v", err)
	}
	policyIs(v2)

	e.Register("bob", "carol", "dave")
	e.enable("root")
	policyIs(v2) // enabling keeps the record
	if err := e.svc.RecordPolicy(e.ctx, "gate", v3); !errors.Is(err, mpa.ErrNotAllowed) {
		t.Fatalf("change while enabled: %v; want ErrNotAllowed", err)
	}
	if err := e.svc.RecordPolicy(e.ctx, "gate", v2); err != nil {
		t.Fatalf("recording the same policy while enabled: %v; want a no-op", err)
	}
	policyIs(v2)

	r, err := e.svc.Create(e.ctx, mpa.NewRequest{Kind: mpa.KindUpdatePolicy, Actions: []mpa.ActionRef{mpa.ActionUpdatePolicy},
		Requester: mpa.SystemActor, Payload: v3})
	if err != nil {
		t.Fatal(err)
	}
	e.mustApprove(r.ID, "bob")
	policyIs(v2)
	e.mustApprove(r.ID, "carol")
	policyIs(v3)

	held, err := e.svc.SetEnabled(e.ctx, "dave", false)
	if err != nil || held == nil {
		t.Fatalf("disable = %v, %v", held, err)
	}
	e.Step()
	e.mustApprove(held.ID, "bob")
	e.mustApprove(held.ID, "carol")
	st, _ := e.svc.Settings(e.ctx)
	if st.Enabled || string(st.Policy) != string(v3) {
		t.Fatalf("after disable: %+v; want disabled with policy %s kept", st, v3)
	}
	e.verifyAudit()
}
