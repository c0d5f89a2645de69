package bastion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gliderlabs/ssh"
	"golang.org/x/term"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/termsafe"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpacli"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

// ReasonEnv is the environment variable a requester sets (ssh -o
// SetEnv=KEYTURN_REASON=...) to say why they need a held command.
const ReasonEnv = "KEYTURN_REASON"

// hold turns a held command into a pending request and waits, with live
// updates, until it is approved (then runs it, once), rejected, expires, or
// the requester detaches.
func (g *Gate) hold(s ssh.Session, id Identity, d policy.Decision) int {
	_, _, pty := s.Pty()
	ctx := s.Context()

	settings, err := g.mpa.Settings(ctx)
	if err != nil {
		g.log.Error("read mpa settings", "user", id.User, "err", err)
		say(s, "keyturn: internal error; the command was not run")
		return exitcode.Internal
	}
	if !settings.Enabled && !unresolved(d) {
		// Vendors' behaviour: until multi-party approval is enabled,
		// privileged actions run, and the record shows they would have
		// been held. A line the gate could not resolve is never waved
		// through, enabled or not.
		if err := g.record(ctx, audit.KindCommandUnapproved, id, map[string]any{"actions": actionNames(d.Actions), "command": s.RawCommand(), "reason": "mpa disabled"}); err != nil {
			return unrecorded(s, err)
		}
		say(s, "keyturn: multi-party approval is not enabled; running %s without approval", strings.Join(actionNames(d.Actions), ", "))
		return g.passthrough(s, id)
	}

	if refusal := g.neverApproved(ctx, id.User, d); refusal != "" {
		g.log.Warn("request refused: quorum out of reach", "user", id.User, "target", id.Target, "actions", actionNames(d.Actions), "why", refusal)
		if err := g.record(ctx, audit.KindRequestRefused, id, map[string]any{"actions": actionNames(d.Actions), "command": s.RawCommand(), "why": refusal}); err != nil {
			say(s, "keyturn: the audit trail is unavailable; the command was not run")
			return exitcode.Internal
		}
		say(s, "keyturn: %s; no request was made and nothing ran", refusal)
		return exitcode.Pending
	}
	g.sayLines(s, explain(s.RawCommand(), d, g.describer()))
	reason := cutReason(strings.TrimSpace(envValue(s.Environ(), ReasonEnv)))
	if reason == "" && pty {
		var ok bool
		if reason, ok = askReason(s, d.ReasonRequired); !ok {
			say(s, "keyturn: no request made; not run")
			return exitcode.Expired
		}
	}
	if d.ReasonRequired && reason == "" {
		// Suggest a terminal only where the policy lets this line have
		// one; otherwise the suggestion would end in a denial.
		withPTY := g.policy.Decide(policy.Input{Command: s.RawCommand(), Target: id.Target, PTY: true})
		if withPTY.Verdict != policy.Deny {
			say(s, "keyturn: a reason is required; give one with: ssh -o 'SetEnv=%s=\"why you need this\"' ... (or run it with ssh -t to be asked)", ReasonEnv)
		} else {
			say(s, "keyturn: a reason is required; give one with: ssh -o 'SetEnv=%s=\"why you need this\"' ...", ReasonEnv)
		}
		return exitcode.Usage
	}
	why, err := json.Marshal(mpacli.BoundWhy(d.Why))
	if err != nil {
		g.log.Error("encode decision", "user", id.User, "err", err)
		return exitcode.Internal
	}
	req, err := g.mpa.Create(ctx, mpa.NewRequest{
		Kind:              mpa.KindCommand,
		Actions:           mpawords.Actions(d.Actions),
		Target:            id.Target,
		Command:           s.RawCommand(),
		Why:               why,
		Requester:         id.User,
		RequesterCert:     certLine(id.Cert),
		Reason:            reason,
		RequiredApprovals: d.Quorum,
		Rules:             mpawords.Rules(d.Approvers),
		PendingTTL:        d.PendingTTL,
		ApprovalTTL:       d.ApprovalTTL,
		PTY:               pty,
	})
	if err != nil {
		g.log.Error("create request", "user", id.User, "target", id.Target, "err", err)
		if errors.Is(err, mpa.ErrStoreFull) {
			return unrecorded(s, err)
		}
		say(s, "keyturn: could not record the request; the command was not run")
		return exitcode.Internal
	}
	g.log.Info("request created", "user", id.User, "target", id.Target, "request", req.ID, "actions", actionNames(d.Actions))
	say(s, "keyturn: request %s needs %s; it expires %s", req.ID, plural(req.RequiredApprovals, "approval"), expiresIn(req.ExpiresAt, time.Now()))
	if len(req.Rules) > 0 {
		say(s, "keyturn: approvers needed: %s", rulesText(req.Rules))
	}
	say(s, "keyturn: approvers: ssh APPROVER@gate mpa requests approve %s --totp-code CODE", req.ID)
	detach := "Ctrl-C"
	if pty {
		detach = "~." // the gate reads no keys while it waits; ssh's escape leaves
	}
	say(s, "keyturn: waiting for approval; %s detaches; come back with: ssh %s@gate mpa requests run %s", detach, id.User, req.ID)
	return g.await(s, id, req.ID)
}

// boundCommandLine refuses a session whose command line is longer than
// limit bytes, or holds a NUL byte, before anything reads the line: no log line carries it, no
// policy decides it, nothing is stored. Everything after it may assume a
// bounded line. A line of nested $(...) a few hundred KB long once cost
// gigabytes of memory and hundreds of megabytes of store.
func boundCommandLine(limit int, log *slog.Logger) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			if n := len(s.RawCommand()); n > limit {
				log.Warn("command line refused: too long", "login", s.User(), "remote", s.RemoteAddr().String(), "bytes", n, "limit", limit)
				say(s, "keyturn: the command line is %d bytes; this gate accepts at most %d (max_command_line); nothing was run or recorded", n, limit)
				s.Exit(exitcode.TooLong)
				return
			}
			if i := strings.IndexByte(s.RawCommand(), 0); i >= 0 {
				// No shell can receive a NUL (an argument is a C
				// string), and the policy reads the line without it:
				// what ran would not be what was decided.
				log.Warn("command line refused: NUL byte", "login", s.User(), "remote", s.RemoteAddr().String(), "offset", i)
				say(s, "keyturn: the command line holds a NUL byte (at byte %d), which no shell can receive; nothing was run or recorded", i)
				s.Exit(exitcode.Usage)
				return
			}
			next(s)
		}
	}
}

// maxReason bounds a typed reason; it is stored and shown to approvers.
const maxReason = 500

// askReason asks the requester at a terminal why they need the command.
// The client's terminal is raw and the gate has no line discipline of its
// own, so x/term's Terminal does the echo and editing. ok is false when the
// requester gave up (Ctrl-C, Ctrl-D, a dropped connection).
func askReason(s ssh.Session, required bool) (reason string, ok bool) {
	prompt := "keyturn: reason (enter to skip): "
	if required {
		prompt = "keyturn: reason (required): "
	}
	t := term.NewTerminal(s, prompt)
	if p, _, _ := s.Pty(); p.Window.Width > 0 {
		t.SetSize(p.Window.Width, p.Window.Height)
	}
	line, err := t.ReadLine()
	if err != nil {
		return "", false
	}
	return cutReason(strings.TrimSpace(line)), true
}

// cutReason bounds a reason, typed or from the environment, to maxReason
// characters.
func cutReason(s string) string {
	if r := []rune(s); len(r) > maxReason {
		return string(r[:maxReason])
	}
	return s
}

// await follows a request until it can run or ends. Detaching (Ctrl-C on a
// terminal, or a dropped connection) leaves the request as it is.
func (g *Gate) await(s ssh.Session, id Identity, reqID string) int {
	ctx, cancel := context.WithCancel(s.Context())
	defer cancel()
	updates, err := g.mpa.Watch(ctx, reqID)
	if err != nil {
		g.log.Error("watch request", "request", reqID, "err", err)
		say(s, "keyturn: lost track of %s; see 'mpa requests view %s'", reqID, reqID)
		return exitcode.Internal
	}
	seen := 0
	for r := range updates {
		for ; seen < len(r.Approvals); seen++ {
			say(s, "keyturn: approved by %s, %d of %d", r.Approvals[seen].Approver, seen+1, r.RequiredApprovals)
		}
		switch r.Status {
		case mpa.StatusApproved:
			cancel()
			return g.release(s, id, r.ID)
		case mpa.StatusRejected:
			v := lastVote(r.Rejections)
			say(s, "keyturn: rejected by %s: %s", v.Approver, termsafe.String(v.Comment))
			return exitcode.Rejected
		case mpa.StatusExpired:
			say(s, "keyturn: request %s expired before it was approved; not run", r.ID)
			return exitcode.Expired
		case mpa.StatusCancelled:
			say(s, "keyturn: request %s was cancelled; not run", r.ID)
			return exitcode.Expired
		case mpa.StatusExecuting, mpa.StatusCompleted, mpa.StatusInterrupted:
			say(s, "keyturn: request %s was already released (%s)", r.ID, r.Status)
			return exitcode.Pending
		}
	}
	if s.Context().Err() == nil {
		say(s, "keyturn: detached; %s keeps its place. Once approved, run it with: ssh %s@gate mpa requests run %s", reqID, id.User, reqID)
		g.log.Info("requester detached", "user", id.User, "request", reqID)
	}
	return exitcode.Pending
}

// release runs an approved request exactly once on this session: the
// Approved -> Executing transition is committed before a byte reaches the
// target, so a second release, from this gate or another, fails.
func (g *Gate) release(s ssh.Session, id Identity, reqID string) int {
	ctx := s.Context()
	r, err := g.beginExecution(ctx, reqID, id.User)
	if err != nil {
		g.log.Warn("release refused", "user", id.User, "request", reqID, "err", err)
		// Who rejected it and why is for its requester alone; anyone
		// else hears only that it cannot run, whoever called release.
		if cur, gerr := g.mpa.Get(ctx, reqID); gerr == nil && cur.Requester == id.User && cur.Status == mpa.StatusRejected {
			v := lastVote(cur.Rejections)
			say(s, "keyturn: %s was rejected by %s: %s; it never runs", reqID, v.Approver, termsafe.String(v.Comment))
			return exitcode.Rejected
		}
		sentence, code := mpawords.Error(err, exitcode.Session, mpawords.Subject{Who: id.User})
		say(s, "keyturn: %s cannot run: %s", reqID, sentence)
		return code
	}
	// The request names its target; the caller may be in the gate's own
	// namespace (mpa requests run), so authorize the target again now.
	target := Identity{User: id.User, Target: r.Target, Fingerprint: id.Fingerprint, Remote: id.Remote}
	if refusal := g.authorizeTarget(target); refusal != "" {
		g.finish(s.Context(), r.ID, mpa.ExecResult{ExitStatus: exitcode.Refused, Error: refusal})
		say(s, "keyturn: %s", refusal)
		return exitcode.Refused
	}
	// What runs is what was approved: with a terminal only if it was
	// decided with one, whatever this session has. A terminal would turn
	// an approved 'less' into a shell.
	if !r.PTY {
		s = withoutPTY{s}
	}
	// Policy may have changed since approval: a line it now denies stays
	// unrun, and so does one with a verdict this code does not know.
	if d := g.policy.Decide(policy.Input{Command: r.Command, Target: r.Target, PTY: r.PTY}); d.Verdict != policy.Allow && d.Verdict != policy.Hold {
		g.finish(s.Context(), r.ID, mpa.ExecResult{ExitStatus: exitcode.Denied, Error: "denied by the policy now in force"})
		g.sayLines(s, explain(r.Command, d, g.describer()))
		return exitcode.Denied
	}
	say(s, "keyturn: %s approved; running on %s", r.ID, r.Target)
	g.log.Info("request released", "user", id.User, "target", r.Target, "request", r.ID)
	out, res := g.runRecorded(s, target, r)
	if res.blocked != nil {
		say(s, "keyturn: %s did more than was approved (%v) and was stopped; request it again", r.ID, res.blocked.Actions)
	}
	g.finish(s.Context(), r.ID, mpa.ExecResult{ExitStatus: res.status, OutputBytes: out.TotalBytes, OutputSHA256: out.TotalSHA256, OutputHead: out.HeadLines(),
		Error: res.err, Interrupted: res.lost})
	if res.lost {
		say(s, "keyturn: %s is recorded as interrupted (outcome unknown); check %s before asking to run it again", r.ID, r.Target)
	}
	return res.status
}

// withoutPTY is a session whose terminal, if any, the target never sees.
type withoutPTY struct{ ssh.Session }

func (withoutPTY) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return ssh.Pty{}, nil, false }

// finish records the end of a run. The session's context may already be
// done when the command ends (the client gone), so the record is written
// under a bound of its own that keeps the session's values, not its end.
func (g *Gate) finish(sctx context.Context, reqID string, res mpa.ExecResult) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(sctx), 30*time.Second)
	defer cancel()
	if _, err := g.mpa.FinishExecution(ctx, reqID, res); err != nil {
		g.log.Error("record execution", "request", reqID, "err", err)
	}
}

func lastVote(vs []mpa.Vote) mpa.Vote {
	if len(vs) == 0 {
		return mpa.Vote{Approver: "an approver"}
	}
	return vs[len(vs)-1]
}

func unresolved(d policy.Decision) bool {
	for _, a := range d.Actions {
		if a == policy.UnresolvedAction || a == policy.InteractiveAction {
			return true
		}
	}
	return false
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// unrecorded tells the requester that a command was not run because its
// record could not be written, and returns the exit status: a full disk is
// the gate being unavailable (try later), anything else an internal error.
func unrecorded(s ssh.Session, err error) int {
	if errors.Is(err, mpa.ErrStoreFull) {
		sentence, code := mpawords.Error(err, exitcode.Session, mpawords.Subject{})
		say(s, "keyturn: %s; the command was not run", sentence)
		return code
	}
	say(s, "keyturn: the audit trail is unavailable; the command was not run")
	return exitcode.Internal
}

// record appends a gate event to the audit trail. Its error is logged
// here; a caller about to let a command run must not run it on an error,
// since the trail would then miss it.
func (g *Gate) record(ctx context.Context, kind string, id Identity, data map[string]any) error {
	return g.appendEvent(ctx, auditEvent(kind, id, data), id)
}

// recordData is record for an event whose data is a typed payload that
// carries the session's fields itself ([audit.DecisionData]).
func (g *Gate) recordData(ctx context.Context, kind string, id Identity, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		g.log.Error("audit record failed", "kind", kind, "user", id.User, "err", err)
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	return g.appendEvent(ctx, audit.Event{Kind: kind, Actor: id.User, Target: id.Target, Data: raw}, id)
}

func (g *Gate) appendEvent(ctx context.Context, e audit.Event, id Identity) error {
	_, err := g.mpa.Record(ctx, e)
	if err != nil {
		g.log.Error("audit record failed", "kind", e.Kind, "user", id.User, "err", err)
	}
	return err
}
