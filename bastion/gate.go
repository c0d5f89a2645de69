package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gliderlabs/ssh"
	"github.com/prometheus/client_golang/prometheus"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpacli"
	"github.com/keyturn/keyturn/bastion/targets"
	"github.com/keyturn/keyturn/policy"
)

// Decider decides what the gate does with a command line: the gate's
// policy source. *PolicyHolder is the one the gate runs with; it also
// says what is wrong with the file on disk and keeps in step with the
// policy on record, which the gate asks for where it needs them.
type Decider interface {
	Decide(policy.Input) policy.Decision
}

// TargetDialer opens sessions on targets; *targets.Pool is the one the
// gate runs with.
type TargetDialer interface {
	NewSession(ctx context.Context, target string) (*targets.Session, error)
}

// Options are what a Gate is built from. The gate opens nothing itself:
// whoever assembles it (bastion/server) opens the store behind MPA, the
// target connections and the policy, and closes them after the gate.
type Options struct {
	Config  *config.Config
	HostKey gossh.Signer
	Targets TargetDialer
	Policy  Decider
	// MPA is the approval service; it reads and writes the store through
	// the mpa.Store interface, so the gate knows no store implementation.
	MPA    *mpa.Service
	Logger *slog.Logger
	// Console, if set, is what a login with a terminal and no command
	// opens; without one, such a login is told to use the mpa commands.
	Console Console
	// CountSession, if set, is told the kind of each session the gate
	// routes (metrics).
	CountSession func(SessionKind)
	// Registerer, if set, gets the gate's own collectors (client
	// connections).
	Registerer prometheus.Registerer
}

// Gate is the keyturn SSH server.
type Gate struct {
	cfg     *config.Config
	targets TargetDialer
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
	// none (Options.Console).
	runConsole Console
	// handlers counts the running session handlers (handlers.go), so
	// the owner can wait for them before it closes the store.
	handlers handlerSet
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
	if o.Registerer != nil {
		if err := g.conns.register(o.Registerer); err != nil {
			log.Error("client connection metrics not registered", "err", err)
		}
	}
	auth := newAuthenticator(o.Config, log, nil)
	g.srv = &ssh.Server{
		Handler:     Chain(g.route, middlewares(g.requestPath(auth, o.CountSession))...),
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

// requestPath is the middleware every session passes through before
// route, in order, the first outermost. It is the one place the order is
// set; requestpath_test.go pins it.
//
//  1. track: a running handler is counted until it returns, so the store
//     closes after it (WaitHandlers); none starts once the gate stops
//  2. snapshot: the terminal is read once, before anything else reads it
//  3. recover: a panic in anything below is one session's internal error
//  4. authenticate: the verified key's identity, derived once, travels with the session
//  5. authorize: a target the user may not reach is refused (globs, roles)
//  6. bound: a command line over max_command_line is refused
//  7. count: sessions by kind, for the metrics (only when count is set)
//  8. log: a start and an end line per session
//
// then route: the gate's commands, the console, or a target.
func (g *Gate) requestPath(auth *authenticator, count func(SessionKind)) []stage {
	path := []stage{
		{"track", g.handlers.track(g.log)},
		{"snapshot", snapshotPTY},
		{"recover", recoverPanics(g.log)},
		{"authenticate", authenticate(g.log, auth)},
		{"authorize", g.authorize},
		{"bound", boundCommandLine(maxCommandLine(g.cfg), g.log)},
	}
	if count != nil {
		path = append(path, stage{"count", countSessions(count)})
	}
	return append(path, stage{"log", logSessions(g.log)})
}

// stage is one named step of the request path.
type stage struct {
	name string
	mw   Middleware
}

func middlewares(path []stage) []Middleware {
	mws := make([]Middleware, len(path))
	for i, st := range path {
		mws[i] = st.mw
	}
	return mws
}

// route sends an authenticated, authorized session where its login name
// points: the gate's own commands, or a target.
func (g *Gate) route(s ssh.Session) {
	id, ok := sessionIdentity(s)
	if !ok {
		refuseUnidentified(g.log, s)
		return
	}
	if id.Target == "" {
		s.Exit(g.gateCommand(s, id))
		return
	}
	s.Exit(g.targetSession(s, id))
}

// targetSession decides the command of a session authorize let through
// for its target, and runs it if policy allows.
func (g *Gate) targetSession(s ssh.Session, id Identity) int {
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
		return exitcode.Denied
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
