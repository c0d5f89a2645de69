package bastion

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/policy"
)

// Regression tests from the adversarial review of the request-path
// refactor (see /tmp/readme/review.md): each would fail against the code
// before its fix.

// rejectComment is the comment carol rejects with in these tests: what
// only the requester may read.
const rejectComment = "PAGER-7731 postmortem: do not run on db"

// bobsRejected starts a gate with MPA on and files bob's `kill 1`, which
// carol rejects with rejectComment.
func bobsRejected(t *testing.T) (*testGate, *advApprover, mpa.Request) {
	t.Helper()
	tg := startTestGate(t, advPolicy)
	apv := advEnableMPA(t, tg)
	r := advCreate(t, tg, "bob", "kill 1", 0)
	apv.reject(t, r.ID, rejectComment)
	return tg, apv, r
}

// reject rejects id as carol with a fresh code and comment.
func (a *advApprover) reject(t *testing.T, id, comment string) {
	t.Helper()
	a.clock.Advance(30 * time.Second)
	if _, err := a.svc.Reject(context.Background(), id, "carol",
		mpa.VoteInput{Code: mpatest.Oathtool(t, a.secret, a.clock.Now()), Comment: comment}); err != nil {
		t.Fatalf("carol rejects %s: %v", id, err)
	}
}

// Releasing someone else's request tells nothing of it: not that it was
// rejected, not by whom, not the approver's comment; the answer is the
// one for an id that does not exist. (Checked in the review: mpacli's
// run refuses before the gate's release, whose rejection message does
// not check the requester; this pins that order.)
func TestReviewReleaseOfOthersRejectedRequestTellsNothing(t *testing.T) {
	tg, apv, r := bobsRejected(t)

	_, stderr, st := tg.run(t, "alice", tg.alice, "mpa requests run "+r.ID)
	if strings.Contains(stderr, rejectComment) || strings.Contains(stderr, "carol") || strings.Contains(stderr, "bob") {
		t.Errorf("alice releasing bob's rejected request reads %q: the request leaks", stderr)
	}
	const none = "req-00000000ff"
	_, noneErr, noneSt := tg.run(t, "alice", tg.alice, "mpa requests run "+none)
	if st != noneSt || strings.ReplaceAll(stderr, r.ID, none) != noneErr {
		t.Errorf("bob's request: %d %q; an unknown id: %d %q; want the same answer", st, stderr, noneSt, noneErr)
	}

	// The requester still hears it, so the checks above can fail.
	own := advCreate(t, tg, "alice", "kill 1", 0)
	apv.reject(t, own.ID, rejectComment)
	_, stderr, st = tg.run(t, "alice", tg.alice, "mpa requests run "+own.ID)
	if st != exitcode.Rejected || !strings.Contains(stderr, rejectComment) {
		t.Errorf("alice releasing her own rejected request: status %d, %q; want %d and the comment", st, stderr, exitcode.Rejected)
	}
}

// A holder under a controller puts no changed file into force by itself:
// server.Server exports its PolicyHolder, and before the controller
// replaced the holder's hooks, PolicyHolder.Reload asked for approval
// like every reload. After the split it installed whatever the file said,
// so any caller of srv.Policy.Reload() (a reload command, a SIGHUP
// handler written against the old API) would turn a rule off alone.
func TestReviewControlledHolderReloadNeedsApproval(t *testing.T) {
	f := newPolicyFixture(t) // MPA on, policyV1 in force and on record
	if d := f.h.Decide(policy.Input{Command: "reboot"}); d.Verdict != policy.Allow {
		t.Fatalf("reboot under policyV1: %v; want allowed", d.Verdict)
	}
	if err := os.WriteFile(f.path, []byte(policyV2), 0o600); err != nil {
		t.Fatal(err)
	}
	// The direct reload: refused, nothing in force changes.
	if err := f.h.Reload(); err == nil {
		t.Error("Reload of a controlled holder reported no error")
	}
	if d := f.h.Decide(policy.Input{Command: "reboot"}); d.Verdict != policy.Allow {
		t.Errorf("reboot after the holder's own Reload: %v; the unapproved policyV2 went into force", d.Verdict)
	}
	if err := f.h.checkRecord(f.record(t)); err != nil {
		t.Errorf("the policy in force is no longer the one on record: %v", err)
	}
	// The controller's reload files the change, so the setup can tell a
	// held change from none.
	if err := f.ctl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.pending(t)); n != 1 {
		t.Errorf("%d pending policy changes after the controller's reload; want 1", n)
	}
	if d := f.h.Decide(policy.Input{Command: "reboot"}); d.Verdict != policy.Allow {
		t.Errorf("reboot while the change is pending: %v; want still allowed", d.Verdict)
	}
}

// record is the policy on record in the fixture's store.
func (f *policyFixture) record(t *testing.T) []byte {
	t.Helper()
	st, err := f.svc.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Policy
}

// releaseSession is what release needs of a session: a context, stderr
// and no terminal.
type releaseSession struct {
	bareSession
	ctx ssh.Context
}

func (s *releaseSession) Context() ssh.Context { return s.ctx }

// testSSHContext is an ssh.Context for a session served outside a server.
type testSSHContext struct {
	context.Context
	sync.Mutex
}

func (*testSSHContext) User() string                  { return "alice" }
func (*testSSHContext) SessionID() string             { return "review" }
func (*testSSHContext) ClientVersion() string         { return "SSH-2.0-test" }
func (*testSSHContext) ServerVersion() string         { return "SSH-2.0-keyturn" }
func (*testSSHContext) RemoteAddr() net.Addr          { return &net.TCPAddr{IP: net.IPv6loopback} }
func (*testSSHContext) LocalAddr() net.Addr           { return &net.TCPAddr{IP: net.IPv6loopback} }
func (*testSSHContext) Permissions() *ssh.Permissions { return &ssh.Permissions{} }
func (*testSSHContext) SetValue(_, _ any)             {}

// The gate's release says who rejected a request and why to its
// requester only. mpacli's run refuses anyone else first (the test
// above), but release is also called by the hold flow and is the last
// word on a release: it must not rely on its caller for whom it tells.
// Before the fix it told any caller whose release failed that the request
// was rejected, by whom, with the comment, and exited with the rejected
// status.
func TestReviewReleaseTellsRejectionToRequesterOnly(t *testing.T) {
	tg, _, r := bobsRejected(t)
	release := func(user string) (string, int) {
		s := &releaseSession{ctx: &testSSHContext{Context: t.Context()}}
		code := tg.gate.release(s, Identity{User: user, Remote: "[::1]:1"}, r.ID)
		return s.stderr.String(), code
	}
	stderr, code := release("alice")
	if strings.Contains(stderr, rejectComment) || strings.Contains(stderr, "carol") || code == exitcode.Rejected {
		t.Errorf("alice releasing bob's rejected request: status %d, %q; the rejection leaks", code, stderr)
	}
	if code == 0 {
		t.Errorf("alice releasing bob's request: status 0")
	}
	// bob, its requester, is told, so the check above can fail.
	stderr, code = release("bob")
	if code != exitcode.Rejected || !strings.Contains(stderr, rejectComment) {
		t.Errorf("bob releasing his rejected request: status %d, %q; want %d and the comment", code, stderr, exitcode.Rejected)
	}
}
