package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpacli"
	"github.com/keyturn/keyturn/bastion/targets"
	"github.com/keyturn/keyturn/policy"
)

// Decider decides what the gate does with a command line; *PolicyHolder is
// the one the gate runs with.
type Decider interface {
	Decide(policy.Input) policy.Decision
}

// Options are what a Gate is built from.
type Options struct {
	Config  *config.Config
	HostKey gossh.Signer
	Targets *targets.Pool
	Policy  Decider
	MPA     *mpa.Service
	Logger  *slog.Logger
	// Console, if set, is what a login without a command opens.
	Console Console
}

// Gate is the keyturn SSH server.
type Gate struct {
	cfg     *config.Config
	targets *targets.Pool
	policy  Decider
	mpa     *mpa.Service
	log     *slog.Logger
	srv     *ssh.Server
	hostKey gossh.Signer // signs grants for guarded targets; its public half is shown by ssh-config

	// stopping is closed when shutdown begins, to tell idle consoles.
	stopping chan struct{}
	stopOnce sync.Once
	// conns keeps client connections within the config's limits.
	conns *connLimiter
	// runConsole is the approvers' console; nil when the assembler gave
	// none.
	runConsole Console
	// serialOpen turns off opening the target channel during the
	// record (early.go); set only by a benchmark comparing the two.
	serialOpen atomic.Bool
}

// New builds a gate; Serve starts it.
func New(o Options) (*Gate, error) {
	if o.Config == nil || o.HostKey == nil || o.Targets == nil || o.Policy == nil || o.MPA == nil {
		return nil, errors.New("bastion: New needs a config, a host key, a target pool, a policy and an approval service")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	lim := o.Config.Limits.Effective()
	g := &Gate{cfg: o.Config, targets: o.Targets, policy: o.Policy, mpa: o.MPA, log: log, hostKey: o.HostKey,
		stopping: make(chan struct{}), conns: newConnLimiter(lim, log), runConsole: o.Console}
	auth := newAuthenticator(o.Config, log, nil)
	handler := Chain(g.route,
		snapshotPTY,
		recoverPanics(log),
		boundCommandLine(maxCommandLine(o.Config), log),
		logSessions(log),
		authenticate(log, auth),
	)
	g.srv = &ssh.Server{
		Handler:     handler,
		HostSigners: []ssh.Signer{o.HostKey},
		// Authentication is serverConfig's: public keys only, a refusal
		// explained once per connection.
		ServerConfigCallback: serverConfig(auth),
		// The limiter sees each connection first (and may refuse it),
		// and learns from its first channel or global request that it
		// authenticated.
		ConnCallback: g.conns.accept,
		ChannelHandlers: g.conns.channels(map[string]ssh.ChannelHandler{
			"session": sessionChannel(log, lim),
			"default": refuseChannel(log),
		}),
		RequestHandlers: g.conns.requests(map[string]ssh.RequestHandler{
			"default": refuseGlobalRequest(log),
		}),
		Version: "keyturn",
	}
	return g, nil
}

// Serve accepts connections on l until Shutdown or Close.
func (g *Gate) Serve(l net.Listener) error {
	g.log.Info("gate listening", "address", l.Addr().String())
	err := g.srv.Serve(l)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for open ones to end until
// ctx is done; then it closes what is left.
func (g *Gate) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() { close(g.stopping) })
	err := g.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		g.log.Warn("grace period over; closing open sessions")
		return g.srv.Close()
	}
	return err
}

// route sends an authenticated session where its login name points: the
// gate's own commands, or a target.
func (g *Gate) route(s ssh.Session) {
	id, _ := identityOf(s) // authenticate has checked it
	if id.Target == "" {
		s.Exit(g.gateCommand(s, id))
		return
	}
	s.Exit(g.targetSession(s, id))
}

// targetSession authorizes a session for a target, decides its command, and
// runs it if policy allows.
func (g *Gate) targetSession(s ssh.Session, id Identity) int {
	if refusal := g.authorizeTarget(id); refusal != "" {
		g.log.Warn("target refused", "user", id.User, "target", id.Target, "key", id.Fingerprint)
		g.record(s.Context(), audit.KindSessionRefused, id, map[string]any{"why": refusal})
		say(s, "keyturn: %s", refusal)
		return ExitRefused
	}
	_, _, pty := s.Pty()
	in := policy.Input{Command: s.RawCommand(), Shell: s.RawCommand() == "", PTY: pty, Target: id.Target}
	d := g.policy.Decide(in)
	g.log.Info("decision", "user", id.User, "target", id.Target, "verdict", d.Verdict.String(), "actions", actionNames(d.Actions), "command", in.Command)
	var early *earlySession
	if d.Verdict == policy.Allow && !g.serialOpen.Load() {
		// The target's channel opens while the record commits; nothing
		// is sent on it until the record is durable (see early.go).
		early = g.openEarly(s.Context(), id.Target)
	}
	data := audit.DecisionData{Command: in.Command, PTY: pty, Verdict: d.Verdict.String(), Actions: actionNames(d.Actions),
		Why: mpacli.BoundWhy(d.Why), Key: id.Fingerprint, Remote: id.Remote}
	if id.Cert != nil {
		data.Cert = id.Cert
	}
	if err := g.recordData(s.Context(), audit.KindDecision, id, data); err != nil {
		early.abandon()
		return unrecorded(s, err)
	}
	switch d.Verdict {
	case policy.Allow:
		return g.passthroughOn(s, id, early)
	case policy.Hold:
		return g.hold(s, id, d)
	default:
		g.sayLines(s, explain(in.Command, d, g.describer()))
		return ExitDenied
	}
}

// authorizeTarget says why id may not use its target, or "" if it may.
func (g *Gate) authorizeTarget(id Identity) string {
	u, ok := g.cfg.User(id.User)
	if _, known := g.cfg.Target(id.Target); !ok || !known || !u.CanReach(id.Target) || !u.HasRole(config.RoleAdmin) {
		return fmt.Sprintf("%s may not reach target %q (see 'ssh %s@gate targets')", id.User, id.Target, id.User)
	}
	return ""
}

func actionNames(refs []policy.ActionRef) []string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return names
}

// indentCR turns the newlines of a multi-line message into CRLF for a raw
// terminal.
func indentCR(msg string, pty bool) string {
	if !pty {
		return msg
	}
	out := make([]byte, 0, len(msg)+8)
	for i := 0; i < len(msg); i++ {
		if msg[i] == '\n' {
			out = append(out, '\r')
		}
		out = append(out, msg[i])
	}
	return string(out)
}

// maxCommandLine returns the command line bound from the config.
func maxCommandLine(cfg *config.Config) int {
	if n := cfg.MaxCommandLine.Bytes(); n > 0 {
		return int(n)
	}
	return config.DefaultMaxCommandLine
}

// graceFrom returns the shutdown grace period from the config.
func graceFrom(cfg *config.Config) time.Duration {
	if d := cfg.ShutdownGrace.Std(); d > 0 {
		return d
	}
	return config.DefaultShutdownGrace
}
