package mpa_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// roles is the approver role as a config grants it, changeable as an
// operator edits the config and restarts the gate.
type roles struct {
	mu  sync.Mutex
	out map[string]bool // users who lost the role
}

func (r *roles) canApprove(user string, _ []mpa.ActionRef) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.out[user]
}

func (r *roles) revoke(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out[user] = true
}

// newRolesEnv is an env with approvers carol, dave and erin whose approver
// role the test can take away.
func newRolesEnv(t *testing.T) (*env, *roles) {
	t.Helper()
	rl := &roles{out: map[string]bool{}}
	e := newEnv(t, mpa.Options{CanApprove: rl.canApprove})
	e.Register("carol", "dave", "erin")
	return e, rl
}

// TestVoteDoesNotOutliveRoleAtQuorum is issue 16 item 10: dave approved,
// lost the approver role, and his vote still completed the quorum.
func TestVoteDoesNotOutliveRoleAtQuorum(t *testing.T) {
	e, rl := newRolesEnv(t)
	r := e.create("alice", 2)
	e.mustApprove(r.ID, "dave")
	rl.revoke("dave") // config edit and restart
	e.Step()
	got := e.mustApprove(r.ID, "carol")
	if got.Status != mpa.StatusPending {
		t.Fatalf("carol's approval after dave lost the role made it %s; dave's vote must not count", got.Status)
	}
	// Dave cannot vote his way back in.
	e.Step()
	if _, err := e.approve(r.ID, "dave"); !errors.Is(err, mpa.ErrNotAllowed) && !errors.Is(err, mpa.ErrAlreadyVoted) {
		t.Fatalf("dave votes again: %v", err)
	}
	// A second approver who holds the role completes it.
	e.Step()
	if got := e.mustApprove(r.ID, "erin"); got.Status != mpa.StatusApproved {
		t.Fatalf("with carol and erin: %s, want approved", got.Status)
	}
	e.verifyAudit()
}

// TestVoteDoesNotOutliveRoleAtRelease: the quorum was reached while dave
// held the role; he loses it before the requester runs the command. The
// release counts again and refuses, and the request waits for another
// approver.
func TestVoteDoesNotOutliveRoleAtRelease(t *testing.T) {
	e, rl := newRolesEnv(t)
	r := e.create("alice", 2)
	e.mustApprove(r.ID, "carol")
	e.Step()
	if got := e.mustApprove(r.ID, "dave"); got.Status != mpa.StatusApproved {
		t.Fatalf("carol and dave: %s, want approved", got.Status)
	}
	rl.revoke("dave")
	_, err := e.svc.BeginExecution(e.ctx, r.ID, "alice")
	if !errors.Is(err, mpa.ErrNotApproved) {
		t.Fatalf("release with dave's vote no longer counting: err = %v, want ErrNotApproved", err)
	}
	got, err := e.svc.Get(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != mpa.StatusPending {
		t.Fatalf("after the refused release: %s, want pending", got.Status)
	}
	// Trying again changes nothing: still not approved, never executing.
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrNotApproved) {
		t.Fatalf("second release: %v", err)
	}
	e.Step()
	if got := e.mustApprove(r.ID, "erin"); got.Status != mpa.StatusApproved {
		t.Fatalf("carol and erin: %s, want approved", got.Status)
	}
	x, err := e.svc.BeginExecution(e.ctx, r.ID, "alice")
	if err != nil || x.Status != mpa.StatusExecuting {
		t.Fatalf("release with a full quorum: %v, %s", err, x.Status)
	}
	e.verifyAudit()
}

// TestVoteDoesNotOutliveRoleForKeyturnRequests: requests keyturn applies
// itself at quorum (disable_mpa here) count the same way.
func TestVoteDoesNotOutliveRoleForKeyturnRequests(t *testing.T) {
	e, rl := newRolesEnv(t)
	e.enable("carol")
	held, err := e.svc.SetEnabled(e.ctx, "carol", false)
	if err != nil || held == nil {
		t.Fatalf("disable: %v, %v", held, err)
	}
	e.mustApprove(held.ID, "dave")
	rl.revoke("dave")
	e.Step()
	if got := e.mustApprove(held.ID, "erin"); got.Status != mpa.StatusPending {
		t.Fatalf("disable_mpa with dave's lapsed vote: %s", got.Status)
	}
	st, err := e.svc.Settings(e.ctx)
	if err != nil || !st.Enabled {
		t.Fatalf("MPA was disabled on a vote that no longer counts (%v)", err)
	}
}
