package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// breakglassDir makes a data dir where bob and carol are approvers, MPA is
// enabled, dave's registration is held as a register_approver request and
// alice has a pending command request. It uses the real clock because the
// tool does: requests made at a fake time would look expired to it.
func breakglassDir(t *testing.T) (dir, daveReq, aliceReq string) {
	t.Helper()
	dir = t.TempDir()
	st := openDir(t, dir)
	defer st.Close()
	ctx := context.Background()
	svc := mpa.New(st, mpa.Options{Logger: toolLogger(t)})
	complete := func(user string) *mpa.Request {
		reg, err := svc.InitiateRegistration(ctx, user, false)
		if err != nil {
			t.Fatal(err)
		}
		code, err := totp.GenerateCode(reg.Secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, held, err := svc.CompleteRegistration(ctx, user, code)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	complete("bob")
	complete("carol")
	if _, err := svc.SetEnabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	held := complete("dave")
	if held == nil {
		t.Fatal("dave's registration was not held with MPA enabled")
	}
	r, err := svc.Create(ctx, mpa.NewRequest{Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target: "web-1", Command: "kill -9 1", Requester: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return dir, held.ID, r.ID
}

func TestBreakglassRegisterApprover(t *testing.T) {
	dir, daveReq, aliceReq := breakglassDir(t)

	// Nothing but a pending registration can be forced: not alice's
	// command request, not a name with no registration.
	for _, name := range []string{"alice", "erin"} {
		r := runTool(breakglassMain, "", "register-approver", "--data-dir", dir, name)
		if r.code != 1 || !strings.Contains(r.stderr, "no pending register_approver request for "+name) {
			t.Errorf("breakglass %s: exit %d stderr %q", name, r.code, r.stderr)
		}
	}

	// The gate is running: refused with a clear message.
	st := openDir(t, dir)
	r := runTool(breakglassMain, "", "register-approver", "--data-dir", dir, "dave")
	if r.code != 1 || !strings.Contains(r.stderr, "already in use by another keyturn process; stop the gate first") {
		t.Errorf("breakglass on a locked dir: exit %d stderr %q", r.code, r.stderr)
	}
	st.Close()

	// Flags may follow the name.
	r = runTool(breakglassMain, "", "register-approver", "dave", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "break-glass: approved request "+daveReq+"; dave is now a registered approver") {
		t.Fatalf("breakglass dave: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	st = openDir(t, dir)
	defer st.Close()
	ctx := context.Background()
	svc := mpa.New(st, mpa.Options{Logger: toolLogger(t)})
	if a, err := svc.Approver(ctx, "dave"); err != nil || a.Status != mpa.Registered {
		t.Errorf("dave after break-glass: %+v, %v", a, err)
	}
	if req, err := svc.Get(ctx, aliceReq); err != nil || req.Status != mpa.StatusPending || len(req.Approvals) != 0 {
		t.Errorf("alice's request after break-glass: %+v, %v", req, err)
	}
	found := false
	for e, err := range svc.AuditEvents(ctx, audit.Filter{Request: daveReq}) {
		if err != nil {
			t.Fatal(err)
		}
		found = found || e.Kind == "breakglass.register_approver"
	}
	if !found {
		t.Error("break-glass use not in the audit trail")
	}
	if err := svc.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after break-glass: %v", err)
	}
}
