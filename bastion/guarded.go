package bastion

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// grantTTL is how long a grant for a guarded target is valid: it answers
// a challenge the guard is waiting on, so it is used right away or never.
const grantTTL = 2 * time.Minute

// Text returns the policy file text in force; a grant carries its digest so
// the guard refuses to decide under a different file.
func (h *PolicyHolder) Text() []byte { return *h.text.Load() }

// targetCommand is what the gate sends to run command on target: the line
// itself, or for a guarded target guard.Command with a handshake that,
// once the command started, answers the guard's challenge with a grant for
// the line and the granted actions, signed with the gate's host key.
func (g *Gate) targetCommand(target, command string, granted []string) (cmd string, hs *guardHandshake, err error) {
	t, ok := g.cfg.Target(target)
	if !ok || !t.Guarded() {
		return command, nil, nil
	}
	if command == "" {
		return "", nil, errors.New("a guarded target runs commands only, not shells")
	}
	tp, ok := g.policy.(interface{ Text() []byte })
	if !ok {
		return "", nil, errors.New("no policy text to bind the grant to")
	}
	return guard.Command, &guardHandshake{gate: g, target: target, line: command, granted: granted,
		digest: grant.PolicyDigest(tp.Text())}, nil
}

// guardChallengeWait bounds how long the gate waits for a guarded
// target's challenge line; the guard writes it as soon as it starts.
const guardChallengeWait = 30 * time.Second

// guardHandshake is the gate's half of the grant handshake (package grant)
// for one command on a guarded target.
type guardHandshake struct {
	gate          *Gate
	target, line  string
	granted       []string
	digest        string
	challengeWait time.Duration // guardChallengeWait if zero
}

// run reads the guard's challenge line from out (at most
// grant.MaxChallengeLine bytes, within the wait), signs a grant bound to
// it and writes the grant line to in. It returns the reader for the rest
// of the command's output. On any error nothing was granted: the caller
// closes the session, and the guard, without a grant, runs nothing.
func (h *guardHandshake) run(out io.Reader, in io.Writer, closeSession func()) (io.Reader, error) {
	wait := h.challengeWait
	if wait <= 0 {
		wait = guardChallengeWait
	}
	br := bufio.NewReaderSize(out, 4096)
	type result struct {
		line string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		var line []byte
		for len(line) <= grant.MaxChallengeLine {
			b, err := br.ReadByte()
			if err != nil {
				got <- result{string(line), fmt.Errorf("no keyturn-guard challenge (%w)", err)}
				return
			}
			line = append(line, b)
			if b == '\n' {
				got <- result{string(line), nil}
				return
			}
		}
		got <- result{string(line), fmt.Errorf("no keyturn-guard challenge: first line over %d bytes", grant.MaxChallengeLine)}
	}()
	var r result
	select {
	case r = <-got:
	case <-time.After(wait):
		closeSession()
		<-got
		return nil, fmt.Errorf("no keyturn-guard challenge within %v", wait)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %.80q", r.err, r.line)
	}
	challenge, err := grant.ParseChallengeLine(r.line)
	if err != nil {
		return nil, err
	}
	gr, err := grant.New(h.target, h.line, h.granted, h.digest, challenge, time.Now(), grantTTL)
	if err != nil {
		return nil, err
	}
	tok, err := grant.Sign(gr, h.gate.hostKey)
	if err != nil {
		return nil, err
	}
	if err := grant.WriteLine(in, tok); err != nil {
		return nil, fmt.Errorf("send grant: %w", err)
	}
	return br, nil
}

// maxGuardTail bounds how much of a guarded command's stderr the gate keeps
// to find the guard's report in.
const maxGuardTail = 32 << 10

// tailWriter keeps the last bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - maxGuardTail; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// report returns the guard's report if status says it blocked the line.
func (t *tailWriter) report(status int) *guard.Report {
	if status != guard.ExitBlocked && status != guard.ExitDenied {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := guard.FindReport(bytes.NewReader(t.buf))
	if err != nil || r == nil {
		return nil
	}
	return r
}

// holdObserved turns what keyturn-guard blocked on a target into a held
// request for the actions it observed, so the admin gets the normal
// approval flow; on approval the line runs again with a grant for exactly
// those actions. Parts of the line before the blocked action have run.
func (g *Gate) holdObserved(s ssh.Session, id Identity, rep *guard.Report) int {
	ctx := s.Context()
	g.log.Warn("guard blocked a line", "user", id.User, "target", id.Target, "actions", rep.Actions, "observed", rep.Observed, "deny", rep.Deny)
	if err := g.record(ctx, audit.KindGuardBlocked, id, map[string]any{
		"command": s.RawCommand(), "actions": rep.Actions, "observed": rep.Observed, "deny": rep.Deny,
	}); err != nil {
		say(s, "keyturn: the audit trail is unavailable; not run again")
		return exitcode.Internal
	}
	if rep.Deny {
		say(s, "keyturn: denied on %s: %s", id.Target, rep.Observed)
		return exitcode.Denied
	}
	settings, err := g.mpa.Settings(ctx)
	if err != nil {
		g.log.Error("read mpa settings", "user", id.User, "err", err)
		say(s, "keyturn: internal error; the command was not run again")
		return exitcode.Internal
	}
	if !settings.Enabled {
		// As hold does: with approval off, privileged actions run and the
		// record says so. Running it again with the grant (rather than
		// through hold, which would pass it through and be blocked again)
		// keeps this from looping.
		if err := g.record(ctx, audit.KindCommandUnapproved, id, map[string]any{"actions": rep.Actions, "command": s.RawCommand(), "reason": "mpa disabled"}); err != nil {
			say(s, "keyturn: the audit trail is unavailable; the command was not run again")
			return exitcode.Internal
		}
		say(s, "keyturn: multi-party approval is not enabled; running again with %v allowed", rep.Actions)
		return g.runOnTarget(s, id, s.RawCommand(), nil, rep.Actions).status
	}
	return g.hold(s, id, g.observedDecision(rep))
}

// observedDecision is the decision a held request for observed actions
// carries: the policy's quorum, TTLs and reason rule for those actions. An
// action the policy in force no longer names gets the defaults.
func (g *Gate) observedDecision(rep *guard.Report) policy.Decision {
	var acts []policy.Action
	var df policy.Defaults
	if cur, ok := g.policy.(interface{ Current() *policy.Policy }); ok {
		acts, df = cur.Current().Actions(), cur.Current().Defaults()
	}
	d := policy.Decision{Verdict: policy.Hold}
	first := true
	for _, name := range rep.Actions {
		a := policy.Action{Name: name, Service: "guard", RequiredApprovals: df.RequiredApprovals,
			PendingTTL: df.PendingTTL, ApprovalTTL: df.ApprovalTTL, ReasonRequired: df.ReasonRequired}
		if i := slices.IndexFunc(acts, func(x policy.Action) bool { return x.Name == name }); i >= 0 {
			a = acts[i]
		}
		d.Actions = append(d.Actions, policy.ActionRef{Name: a.Name, Service: a.Service})
		if len(a.Approvers) > 0 {
			d.Approvers = append(d.Approvers, policy.ApproverRule{Action: a.Name, Lines: slices.Clone(a.Approvers)})
		}
		d.Quorum = max(d.Quorum, a.RequiredApprovals, 1)
		d.ReasonRequired = d.ReasonRequired || a.ReasonRequired
		if first {
			d.PendingTTL, d.ApprovalTTL, first = a.PendingTTL, a.ApprovalTTL, false
		} else {
			d.PendingTTL, d.ApprovalTTL = min(d.PendingTTL, a.PendingTTL), min(d.ApprovalTTL, a.ApprovalTTL)
		}
		d.Why = append(d.Why, policy.Match{Action: name, Note: fmt.Sprintf("observed on the target by keyturn-guard: %s", rep.Observed)})
	}
	return d
}

func mpaActionNames(refs []mpa.ActionRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Name
	}
	return out
}
