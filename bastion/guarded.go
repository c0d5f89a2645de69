package bastion

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// grantTTL is how long a grant for a guarded target is valid: it only has
// to reach the target, which happens right away.
const grantTTL = 2 * time.Minute

// Text returns the policy file text in force; a grant carries its digest so
// the guard refuses to decide under a different file.
func (h *PolicyHolder) Text() []byte { return *h.text.Load() }

// targetCommand is what the gate sends to run command on target: the line
// itself, or for a guarded target a grant signed with the gate's host key
// for the line and the granted actions. guarded says which.
func (g *Gate) targetCommand(target, command string, granted []string) (cmd string, guarded bool, err error) {
	t, ok := g.cfg.Target(target)
	if !ok || !t.Guarded() {
		return command, false, nil
	}
	if command == "" {
		return "", true, errors.New("a guarded target runs commands only, not shells")
	}
	tp, ok := g.policy.(interface{ Text() []byte })
	if !ok {
		return "", true, errors.New("no policy text to bind the grant to")
	}
	gr, err := grant.New(target, command, granted, grant.PolicyDigest(tp.Text()), time.Now(), grantTTL)
	if err != nil {
		return "", true, err
	}
	tok, err := grant.Sign(gr, g.hostKey)
	return tok, true, err
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
		return ExitInternal
	}
	if rep.Deny {
		say(s, "keyturn: denied on %s: %s", id.Target, rep.Observed)
		return ExitDenied
	}
	settings, err := g.mpa.Settings(ctx)
	if err != nil {
		g.log.Error("read mpa settings", "user", id.User, "err", err)
		say(s, "keyturn: internal error; the command was not run again")
		return ExitInternal
	}
	if !settings.Enabled {
		// As hold does: with approval off, privileged actions run and the
		// record says so. Running it again with the grant (rather than
		// through hold, which would pass it through and be blocked again)
		// keeps this from looping.
		if err := g.record(ctx, audit.KindCommandUnapproved, id, map[string]any{"actions": rep.Actions, "command": s.RawCommand(), "reason": "mpa disabled"}); err != nil {
			say(s, "keyturn: the audit trail is unavailable; the command was not run again")
			return ExitInternal
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
