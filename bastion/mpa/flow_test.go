package mpa_test

import (
	"errors"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

func TestFullFlow(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol", "alice")
	if r.Status != mpa.StatusPending || len(r.ID) != len("req-")+10 {
		t.Fatalf("created %+v", r)
	}

	r = e.mustApprove(r.ID, "bob")
	if r.Status != mpa.StatusPending || len(r.Approvals) != 1 {
		t.Fatalf("after bob: status %s, %d approvals; want pending, 1", r.Status, len(r.Approvals))
	}
	if _, err := e.approve(r.ID, "alice"); !errors.Is(err, mpa.ErrSelfApproval) {
		t.Fatalf("alice approving her own request: %v; want ErrSelfApproval", err)
	}
	e.Step()
	if _, err := e.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrAlreadyVoted) {
		t.Fatalf("bob approving twice: %v; want ErrAlreadyVoted", err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrNotApproved) {
		t.Fatalf("release before quorum: %v; want ErrNotApproved", err)
	}
	r = e.mustApprove(r.ID, "carol")
	if r.Status != mpa.StatusApproved {
		t.Fatalf("after carol: %s; want approved", r.Status)
	}
	if _, err := e.approve(r.ID, "dave"); !errors.Is(err, mpa.ErrNotApprover) {
		t.Fatalf("unregistered approver: %v; want ErrNotApprover", err)
	}
	e.Step()
	if _, err := e.svc.Reject(e.ctx, r.ID, "alice", mpa.VoteInput{Code: e.Code("alice")}); !errors.Is(err, mpa.ErrNotPending) {
		t.Fatalf("reject after approval: %v; want ErrNotPending", err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "bob"); !errors.Is(err, mpa.ErrNotRequester) {
		t.Fatalf("bob releasing alice's request: %v; want ErrNotRequester", err)
	}
	r, err := e.svc.BeginExecution(e.ctx, r.ID, "alice")
	if err != nil || r.Status != mpa.StatusExecuting {
		t.Fatalf("BeginExecution = %s, %v", r.Status, err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrAlreadyReleased) {
		t.Fatalf("second BeginExecution: %v; want ErrAlreadyReleased", err)
	}
	r, err = e.svc.FinishExecution(e.ctx, r.ID, mpa.ExecResult{ExitStatus: 0, OutputBytes: 3, OutputSHA256: "abc"})
	if err != nil || r.Status != mpa.StatusCompleted || r.Execution.OutputBytes != 3 {
		t.Fatalf("FinishExecution = %+v, %v", r, err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrAlreadyReleased) {
		t.Fatalf("BeginExecution after completion: %v; want ErrAlreadyReleased", err)
	}
	e.verifyAudit()

	var kinds []string
	for _, ev := range e.events(audit.Filter{Request: r.ID}) {
		kinds = append(kinds, ev.Kind)
	}
	want := []string{"request.created", "request.approval", "request.approval", "request.approved",
		"request.executing", "request.completed"}
	if len(kinds) != len(want) {
		t.Fatalf("audit for %s: %v; want %v", r.ID, kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("audit for %s: %v; want %v", r.ID, kinds, want)
		}
	}
}
