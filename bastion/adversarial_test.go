package bastion

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/policy"
)

// advPolicy holds kill with a quorum of one, so that carol (the harness's
// only approver) can approve alone; shell and terminals are denied (the
// default).
const advPolicy = "version: 1\ndefaults:\n  required_approvals: 1\nactions:\n  - name: kill_process\n    service: process\n    required_approvals: 1\n    match: [{command: kill}]\n"

// advApprover votes as carol through a second Service on the gate's store
// whose clock starts ten minutes in the past and moves one TOTP step per
// vote, so a test can vote often without waiting for real time steps (and
// an approval TTL it sets runs out before the gate's real clock reads it).
type advApprover struct {
	svc    *mpa.Service
	clock  *mpatest.Clock
	secret string
}

// advEnableMPA registers carol and a store-only approver (dave, not in the
// config, so he can never vote) and turns MPA on.
func advEnableMPA(t *testing.T, tg *testGate) *advApprover {
	t.Helper()
	ctx := context.Background()
	clock := mpatest.NewClock(time.Unix(time.Now().Add(-10*time.Minute).Unix()/30*30, 0))
	a := &advApprover{clock: clock, svc: mpa.New(tg.store, mpa.Options{
		Now:        clock.Now,
		CanApprove: func(u string, _ []mpa.ActionRef) bool { return u == "carol" },
	})}
	a.secret = mpatest.Register(t, ctx, a.svc, "carol", clock.Now())
	mpatest.Register(t, ctx, a.svc, "dave", clock.Now())
	if _, err := tg.mpa.SetEnabled(ctx, "carol", true); err != nil {
		t.Fatal(err)
	}
	return a
}

// approve approves id as carol with a fresh code.
func (a *advApprover) approve(t *testing.T, id string) mpa.Request {
	t.Helper()
	a.clock.Advance(30 * time.Second)
	r, err := a.svc.Approve(context.Background(), id, "carol",
		mpa.VoteInput{Code: mpatest.Oathtool(t, a.secret, a.clock.Now())})
	if err != nil {
		t.Fatalf("carol approves %s: %v", id, err)
	}
	return r
}

func advCreate(t *testing.T, tg *testGate, requester, command string, approvalTTL time.Duration) mpa.Request {
	t.Helper()
	r, err := tg.mpa.Create(context.Background(), mpa.NewRequest{
		Actions:           []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target:            "t1",
		Command:           command,
		Requester:         requester,
		RequiredApprovals: 1,
		ApprovalTTL:       approvalTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func advExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// A release runs exactly once, and only for its requester, only for a
// command request, only while its approval lasts.
func TestAdversarialReleaseOnlyOwnApprovedCommandOnce(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	apv := advEnableMPA(t, tg)
	dir := t.TempDir()
	ctx := context.Background()

	// Someone else's approved request: alice may not run it.
	other := filepath.Join(dir, "other")
	r := advCreate(t, tg, "bob", "kill -0 $$; touch "+other, 0)
	apv.approve(t, r.ID)
	if _, stderr, st := tg.run(t, "alice", tg.alice, "mpa requests run "+r.ID); st == 0 || advExists(other) {
		t.Fatalf("alice ran bob's approved request: status %d, stderr %q", st, stderr)
	}
	if got, _ := tg.mpa.Get(ctx, r.ID); got.Status != mpa.StatusApproved {
		t.Fatalf("bob's request is %s after alice's attempt; want still approved", got.Status)
	}

	// A request on keyturn itself (disable_mpa) is never run as a command.
	held, err := tg.mpa.SetEnabled(ctx, "alice", false)
	if err != nil || held == nil {
		t.Fatalf("disable: %v, %v", held, err)
	}
	if _, _, st := tg.run(t, "alice", tg.alice, "mpa requests run "+held.ID); st == 0 {
		t.Fatal("alice ran a disable_mpa request")
	}

	// Pending (not approved): refused.
	pend := filepath.Join(dir, "pending")
	p := advCreate(t, tg, "alice", "kill -0 $$; touch "+pend, 0)
	if _, _, st := tg.run(t, "alice", tg.alice, "mpa requests run "+p.ID); st == 0 || advExists(pend) {
		t.Fatal("a pending request ran")
	}

	// Approved, then lapsed: refused, and marked expired.
	lapsed := filepath.Join(dir, "lapsed")
	l := advCreate(t, tg, "alice", "kill -0 $$; touch "+lapsed, time.Millisecond)
	apv.approve(t, l.ID) // approved ten minutes ago by the approver's clock
	if _, _, st := tg.run(t, "alice", tg.alice, "mpa requests run "+l.ID); st == 0 || advExists(lapsed) {
		t.Fatal("an approval that lapsed was released")
	}

	// Approved and own: runs once; the second release is refused.
	ran := filepath.Join(dir, "ran")
	own := advCreate(t, tg, "alice", "kill -0 $$; echo x >> "+ran, 0)
	apv.approve(t, own.ID)
	if _, stderr, st := tg.run(t, "alice", tg.alice, "mpa requests run "+own.ID); st != 0 {
		t.Fatalf("own approved request: status %d, stderr %q", st, stderr)
	}
	if _, _, st := tg.run(t, "alice", tg.alice, "mpa requests run "+own.ID); st == 0 {
		t.Fatal("a request was released twice")
	}
	if b, _ := os.ReadFile(ran); string(b) != "x\n" {
		t.Fatalf("the approved command ran %q; want once", b)
	}
}

// The session's own refusals: no agent, X11 or subsystem; no second exec
// and no PTY after the command was decided; no forwarding of either kind;
// environment requests do not reach the target.
func TestAdversarialSessionRequestsRefused(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	c := tg.dialAs(t, "alice+t1", tg.alice)

	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go gossh.DiscardRequests(reqs)
	str := func(s string) []byte { return gossh.Marshal(struct{ V string }{s}) }
	ptyReq := gossh.Marshal(struct {
		Term                string
		Columns, Rows, W, H uint32
		Modes               string
	}{Term: "xterm", Columns: 80, Rows: 24})
	x11 := gossh.Marshal(struct {
		Single        bool
		Proto, Cookie string
		Screen        uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0})
	for _, rq := range []struct {
		typ     string
		payload []byte
	}{
		{"auth-agent-req@openssh.com", nil},
		{"x11-req", x11},
		{"subsystem", str("sftp")},
	} {
		ok, err := ch.SendRequest(rq.typ, true, rq.payload)
		if err != nil || ok {
			t.Errorf("%s before exec: ok=%v err=%v; want refused", rq.typ, ok, err)
		}
	}
	if ok, err := ch.SendRequest("exec", true, str("sleep 1; echo done")); err != nil || !ok {
		t.Fatalf("exec: ok=%v err=%v", ok, err)
	}
	if ok, _ := ch.SendRequest("pty-req", true, ptyReq); ok {
		t.Error("pty-req after exec accepted")
	}
	if ok, _ := ch.SendRequest("exec", true, str("kill -9 1")); ok {
		t.Error("a second exec on one channel accepted")
	}
	ch.Close()

	if _, err := c.Dial("tcp", "127.0.0.1:9"); err == nil {
		t.Error("direct-tcpip accepted")
	}
	if l, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
		t.Error("tcpip-forward accepted")
	}

	s := newSession(t, c)
	defer s.Close()
	s.Setenv("KEYTURN_ADV", "leak") // the gate accepts env requests; they must stay at the gate
	out, err := s.Output(`echo "[$KEYTURN_ADV]"`)
	if err != nil || string(out) != "[]\n" {
		t.Fatalf("env reached the target: %q, %v", out, err)
	}

	// A shell (no command) is denied by default.
	if _, _, st := tg.runPTY(t, "alice+t1", tg.alice, "", true); st != exitcode.Denied {
		t.Errorf("interactive shell: status %d; want %d", st, exitcode.Denied)
	}
}

// fixedDecider returns one decision for every line.
type fixedDecider struct{ d policy.Decision }

func (f fixedDecider) Decide(policy.Input) policy.Decision { return f.d }

// Only Allow runs: Deny and a verdict the gate does not know are refused.
func TestAdversarialOnlyAllowRuns(t *testing.T) {
	for _, v := range []policy.Verdict{policy.Deny, policy.Verdict(42), policy.Verdict(-1)} {
		t.Run(v.String(), func(t *testing.T) {
			tg := startGateWith(t, fixedDecider{policy.Decision{Verdict: v}})
			marker := filepath.Join(t.TempDir(), "ran")
			if _, _, st := tg.run(t, "alice+t1", tg.alice, "touch "+marker); st != exitcode.Denied {
				t.Errorf("status %d; want %d", st, exitcode.Denied)
			}
			if advExists(marker) {
				t.Fatalf("verdict %s ran the command", v)
			}
		})
	}
}

// A Decision nobody filled in is a denial: the zero Verdict is Deny, so a
// decider that forgets to set one fails closed and runs nothing.
func TestAdversarialZeroDecisionRunsNothing(t *testing.T) {
	tg := startGateWith(t, fixedDecider{})
	marker := filepath.Join(t.TempDir(), "ran")
	for _, line := range []string{"touch " + marker, ""} {
		if _, _, st := tg.run(t, "alice+t1", tg.alice, line); st != exitcode.Denied {
			t.Errorf("zero decision, line %q: status %d; want %d", line, st, exitcode.Denied)
		}
	}
	if advExists(marker) {
		t.Fatal("a zero Decision ran the command")
	}
}

// A held command does not run while MPA is on and nobody approved it, and
// its requester cannot approve it.
func TestAdversarialHeldCommandWaits(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	advEnableMPA(t, tg)
	marker := filepath.Join(t.TempDir(), "ran")
	requests := tg.watchRequests(t)
	_, s := tg.session(t, "alice+t1", tg.alice)
	if err := s.Start("kill -0 $$; touch " + marker); err != nil {
		t.Fatal(err)
	}
	var r mpa.Request
	for r = range requests {
		if r.Requester == "alice" && r.Status == mpa.StatusPending {
			break
		}
	}
	if _, err := tg.mpa.Approve(t.Context(), r.ID, "alice", mpa.VoteInput{Code: "000000"}); err == nil {
		t.Fatal("the requester approved her own request")
	}
	if _, _, st := tg.run(t, "alice", tg.alice, "mpa requests approve "+r.ID+" --totp-code 123456"); st == 0 {
		t.Fatal("an admin without the approver role approved")
	}
	time.Sleep(200 * time.Millisecond)
	if advExists(marker) {
		t.Fatal("a held command ran without approval")
	}
}

// A request decided without a terminal runs without one, even when its
// requester releases it from a session that has one: the approvers
// approved a non-interactive line, and shell: deny forbids the terminal.
func TestAdversarialReleaseKeepsTerminalAsDecided(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	apv := advEnableMPA(t, tg)
	marker := filepath.Join(t.TempDir(), "had-a-terminal")
	line := "kill -0 $$; if test -t 0; then touch " + marker + "; fi"
	if _, _, st := tg.runPTY(t, "alice+t1", tg.alice, line, true); st != exitcode.Denied {
		t.Fatalf("line with a PTY at the gate: status %d; want %d", st, exitcode.Denied)
	}
	out, stderr, st := tg.run(t, "alice", tg.alice, "mpa requests create --target t1 --json -- '"+line+"'")
	if st != 0 {
		t.Fatalf("create: %d %q", st, stderr)
	}
	var r mpa.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("create output %q: %v", out, err)
	}
	if r.PTY {
		t.Fatal("a request created without a terminal is marked as having one")
	}
	apv.approve(t, r.ID)
	if _, stderr, st := tg.runPTY(t, "alice", tg.alice, "mpa requests run "+r.ID, true); st != 0 {
		t.Fatalf("release: status %d, %q", st, stderr)
	}
	if advExists(marker) {
		t.Fatal("an approved line decided without a terminal ran with one (policy: shell: deny)")
	}
}

// What a requester writes cannot rewrite what an approver reads in the
// mpa commands: control characters are shown escaped.
func TestAdversarialMpaOutputEscapesControlCharacters(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	advEnableMPA(t, tg)
	r, err := tg.mpa.Create(context.Background(), mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}}, Target: "t1",
		Command: "kill -9 1 # \x1b[2K\ruptime", Reason: "routine\x1b[8m hidden", Requester: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"mpa requests view " + r.ID, "mpa requests list"} {
		out, _, _ := tg.run(t, "carol", tg.carol, cmd)
		if strings.ContainsAny(out, "\x1b\r") {
			t.Errorf("%s shows the requester's control characters raw: %q", cmd, out)
		}
		if !strings.Contains(out, `\x1b[2K\ruptime`) {
			t.Errorf("%s does not show the escaped command: %q", cmd, out)
		}
	}
}

// Approvers using the mpa commands see what an update_policy changes.
func TestAdversarialMpaViewShowsPolicyUpdate(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	advEnableMPA(t, tg)
	r, err := tg.mpa.Create(context.Background(), mpa.NewRequest{
		Kind: mpa.KindUpdatePolicy, Actions: []mpa.ActionRef{mpa.ActionUpdatePolicy},
		Command:   "--- policies.yaml (in force)\n+++ policies.yaml (changed)\n-shell: deny\n+shell: allow\n",
		Requester: mpa.SystemActor,
		Payload:   json.RawMessage(`{"text":"version: 1\nshell: allow\n","sha256":"abc123"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := tg.run(t, "carol", tg.carol, "mpa requests view "+r.ID)
	for _, want := range []string{"+shell: allow", "-shell: deny", "sha256 abc123"} {
		if !strings.Contains(out, want) {
			t.Errorf("mpa requests view of an update_policy request lacks %q:\n%s", want, out)
		}
	}
}
