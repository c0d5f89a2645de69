package mpa_test

import (
	"errors"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// A run whose target connection was lost ends Interrupted with no exit
// status, never Completed, and cannot be released again.
func TestFinishExecutionInterrupted(t *testing.T) {
	e, r := newPending(t, 1, "bob", "carol")
	e.mustApprove(r.ID, "bob")
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.FinishExecution(e.ctx, r.ID, mpa.ExecResult{ExitStatus: 74, Interrupted: true, Error: "connection to the target lost"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != mpa.StatusInterrupted || r.Execution.ExitStatus != 0 || r.Execution.Error == "" || r.Execution.End.IsZero() {
		t.Fatalf("after a lost connection: %s %+v; want interrupted, no exit status, the error, an end", r.Status, r.Execution)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrAlreadyReleased) {
		t.Fatalf("release after interruption: %v; want ErrAlreadyReleased", err)
	}
	e.verifyAudit()
}
