package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// Pool holds the gate's SSH client connections to its targets: one per
// target while it has room for every session, more (up to
// MaxConnsPerTarget) when the target refuses a session on a connection
// because that connection is full (sshd's MaxSessions). A connection that
// still carries sessions is never closed for another session's sake.
// It is safe for concurrent use; no lock is held while dialling.
//
// Each connection also keeps one spare session channel open ahead of need
// (see SetSpares), so that a session does not wait for a channel-open
// round trip to the target: opening a channel runs nothing on the target,
// and nothing is sent on a spare until a session takes it.
type Pool struct {
	signer  gossh.Signer
	targets map[string]*target
	log     *slog.Logger

	// DialTimeout bounds the TCP connect and SSH handshake.
	DialTimeout time.Duration
	// KeepAlive is how often an idle connection is probed, so a dead one is
	// found before a session needs it.
	KeepAlive time.Duration
	// MaxConnsPerTarget bounds the connections to one target
	// (limits.max_target_connections); set it before the pool is first
	// used.
	MaxConnsPerTarget int
	// OnDialError, if set, is called (on the dialling goroutine) each time
	// a connection to a target fails: TCP, SSH handshake or host key. It
	// feeds the dial-error metric; set it before the pool is first used.
	OnDialError func(target string, err error)

	spares  atomic.Bool    // connections keep a spare channel
	refills sync.WaitGroup // spares being opened, for Close
	probes  sync.WaitGroup // shell probes running, for Close

	// ShellProbeTimeout bounds a connection's shell probe
	// (ShellProbeTimeout if zero); set it before the pool is first used.
	ShellProbeTimeout time.Duration

	mu     sync.Mutex
	conns  map[string][]*conn // the first one is kept when idle
	closed bool
}

type target struct {
	cfg   config.Target
	check *hostKeyChecker
}

// conn is one connection being dialled or in use. ready is closed once
// client or err is set.
type conn struct {
	ready  chan struct{}
	client *gossh.Client
	err    error

	// Guarded by Pool.mu.
	sessions int  // open sessions, ones being opened, and the spare
	full     bool // the target refused a session; cleared when one ends

	// spare is a session channel opened ahead, with nothing sent on it;
	// refill is closed once the spare being opened is open (or failed),
	// and nil while none is being opened. Either takes one of sessions.
	spare  *gossh.Session
	refill chan struct{}
	// noSpare: the target refused a session on this connection, so it is
	// at its MaxSessions; its places are for sessions, not spares.
	noSpare bool

	// The shell probe (shellprobe.go): probing while it runs (it takes
	// one of sessions), probed once it answered (yes or no: final for
	// the connection), probeTries bounds the tries a target refused a
	// channel for. plainBash is set once it answered yes.
	probing, probed bool
	probeTries      int
	plainBash       atomic.Bool
}

// inUse is how many sessions c carries, not counting its spare; p.mu is
// held.
func (c *conn) inUse() int {
	if c.spare != nil || c.refill != nil {
		return c.sessions - 1
	}
	return c.sessions
}

// Session is a session on a target. Close it: that gives its place on
// the connection back.
type Session struct {
	*gossh.Session
	release   func()
	once      sync.Once
	plainBash bool
}

// PlainBash reports whether the shell probe of the session's connection
// had answered, when the session was opened, that the login shell reads a
// line exactly as the configured bash with --norc --noprofile would: then
// the line need not be wrapped in a second bash (bastion/targetshell.go).
// False until the probe answered, on any other answer, and for targets
// with shell_wrapper: always or a guard.
func (s *Session) PlainBash() bool { return s.plainBash }

// Close closes the session and gives its place back.
func (s *Session) Close() error {
	err := s.Session.Close()
	s.once.Do(s.release)
	return err
}

// Ciphers the gate offers targets, fastest first on hardware with AES
// instructions; every session's bytes cross this connection.
var Ciphers = []string{
	"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
	"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr",
}

// NewPool returns a pool that logs in to the configured targets with signer.
func NewPool(signer gossh.Signer, cfgs []config.Target, log *slog.Logger) (*Pool, error) {
	p := &Pool{
		signer:            signer,
		targets:           make(map[string]*target, len(cfgs)),
		log:               log,
		DialTimeout:       10 * time.Second,
		KeepAlive:         30 * time.Second,
		MaxConnsPerTarget: config.DefaultMaxTargetConnections,
		conns:             make(map[string][]*conn),
	}
	p.spares.Store(true)
	for _, c := range cfgs {
		check, err := newHostKeyChecker(c.Name, c.HostKeys, c.KnownHosts)
		if err != nil {
			return nil, err
		}
		p.targets[c.Name] = &target{cfg: c, check: check}
	}
	return p, nil
}

// ErrUnknownTarget is a target name the config does not have.
var ErrUnknownTarget = errors.New("targets: unknown target")

// ErrClosed is returned once the pool is closed.
var ErrClosed = errors.New("targets: pool closed")

// ErrBusy is returned when every connection the pool may open to a target
// is full: the target refuses more sessions on each.
var ErrBusy = errors.New("targets: every connection to the target is full (its MaxSessions times limits.max_target_connections)")

// NewSession opens a session on the named target: the spare channel of a
// connection with room, if it has one, or a new channel. It uses a
// connection with room, dials another when the target refuses a session
// because a connection is full, and dials again once when a pooled
// connection turns out to be broken.
func (p *Pool) NewSession(ctx context.Context, name string) (*Session, error) {
	broken := 0
	for attempt := 0; ; attempt++ {
		c, spare, err := p.reserve(ctx, name)
		if err != nil {
			return nil, err
		}
		if spare != nil {
			if alive(spare) {
				return p.session(name, c, spare), nil
			}
			// The target closed it (nothing was ever sent on it): its
			// place is this session's, on a new channel.
			spare.Close()
			p.log.Info("spare target channel closed by the target; opening another", "target", name)
		}
		s, err := c.client.NewSession()
		if err == nil {
			return p.session(name, c, s), nil
		}
		var refused *gossh.OpenChannelError
		if errors.As(err, &refused) {
			// The target answered, so the connection works: it is
			// full. OpenSSH's sshd says "open failed" with reason
			// connect-failed at MaxSessions; others say prohibited or
			// resource shortage. The sessions on it go on; the next
			// reserve picks or dials another connection. A spare on it
			// holds one of its places: this session takes it, and the
			// connection keeps no spare from now on.
			p.mu.Lock()
			c.sessions--
			c.full = true
			c.noSpare = true
			wait := c.refill
			p.mu.Unlock()
			if wait != nil {
				select {
				case <-wait:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			p.mu.Lock()
			spare := c.spare
			c.spare = nil // its place becomes this session's
			p.mu.Unlock()
			if spare != nil {
				if alive(spare) {
					return p.session(name, c, spare), nil
				}
				spare.Close()
				p.release(name, c)
			}
			p.log.Info("target connection full; using another", "target", name, "reason", refused.Message)
			if attempt > p.maxConns()+1 {
				return nil, fmt.Errorf("open session on target %s: %w", name, err)
			}
			continue
		}
		p.mu.Lock()
		c.sessions--
		p.dropLocked(name, c)
		idle := c.inUse() == 0
		p.mu.Unlock()
		if idle {
			c.client.Close()
		}
		if broken++; broken > 1 {
			return nil, fmt.Errorf("open session on target %s: %w", name, err)
		}
		p.log.Info("target connection broken; dialling again", "target", name, "err", err)
	}
}

func (p *Pool) maxConns() int {
	if p.MaxConnsPerTarget <= 0 {
		return config.DefaultMaxTargetConnections
	}
	return p.MaxConnsPerTarget
}

func (p *Pool) session(name string, c *conn, s *gossh.Session) *Session {
	return &Session{Session: s, release: func() { p.release(name, c) }, plainBash: c.plainBash.Load()}
}

// alive reports whether a spare channel is still open on our side. When
// the target closes a channel, x/crypto answers with its own close at
// once, after which nothing can be sent on it; a request that needs no
// reply and that sshd ignores tells which, with no round trip. (A close
// still in flight is not seen: the session then fails as one whose
// target went away.)
func alive(s *gossh.Session) bool {
	_, err := s.SendRequest("keepalive@openssh.com", false, nil)
	return err == nil
}

// reserve returns a connection to name with a session counted on it: one
// that is up and not known to be full, or a new one; and the connection's
// spare channel, if it had one (its place is the session's).
func (p *Pool) reserve(ctx context.Context, name string) (*conn, *gossh.Session, error) {
	t, ok := p.targets[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownTarget, name)
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, nil, ErrClosed
		}
		var wait *conn
		for _, c := range p.conns[name] {
			select {
			case <-c.ready:
			default:
				if wait == nil {
					wait = c // being dialled: sessions wait for it rather than dial another
				}
				continue
			}
			if c.err == nil && c.spare != nil {
				spare := c.spare
				c.spare = nil
				p.mu.Unlock()
				return c, spare, nil
			}
			if c.err == nil && !c.full {
				c.sessions++
				p.mu.Unlock()
				return c, nil, nil
			}
		}
		if wait == nil {
			if len(p.conns[name]) >= p.maxConns() {
				p.mu.Unlock()
				return nil, nil, fmt.Errorf("session on target %s: %w", name, ErrBusy)
			}
			wait = &conn{ready: make(chan struct{})}
			p.conns[name] = append(p.conns[name], wait)
			go p.dial(t, wait)
		}
		p.mu.Unlock()

		select {
		case <-wait.ready:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if wait.err != nil {
			return nil, nil, wait.err
		}
	}
}

// refillLater opens a spare channel on c in the background, unless c has
// one (or one on the way), may not hold one, or spares are off.
func (p *Pool) refillLater(name string, c *conn) {
	if !p.spares.Load() {
		return
	}
	p.mu.Lock()
	if p.closed || c.noSpare || c.spare != nil || c.refill != nil || !slices.Contains(p.conns[name], c) {
		p.mu.Unlock()
		return
	}
	c.sessions++
	done := make(chan struct{})
	c.refill = done
	p.refills.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.refills.Done()
		s, err := c.client.NewSession()
		var refused *gossh.OpenChannelError
		p.mu.Lock()
		c.refill = nil
		close(done)
		// Kept even if the target refused a session on c meanwhile
		// (noSpare): that session is waiting to take this one.
		keep := err == nil && !p.closed && p.spares.Load() && slices.Contains(p.conns[name], c)
		if keep {
			c.spare, s = s, nil
		} else {
			c.sessions--
			if errors.As(err, &refused) {
				// Not marked full: a session may have ended since
				// the target answered; a session refused finds out.
				c.noSpare = true
			}
		}
		closeConn := !keep && p.idleLocked(name, c)
		p.mu.Unlock()
		if s != nil {
			s.Close()
		}
		if closeConn {
			c.client.Close()
		}
		if errors.As(err, &refused) {
			p.log.Info("target refused a spare channel; the connection keeps none", "target", name, "reason", refused.Message)
		}
	}()
}

// SetSpares turns the connections' spare channels on (as NewPool does:
// each connection up opens one now) or off (the spares held are closed).
func (p *Pool) SetSpares(on bool) {
	p.spares.Store(on)
	var spares []*gossh.Session
	var refill []func()
	p.mu.Lock()
	for name, list := range p.conns {
		for _, c := range list {
			if on {
				select {
				case <-c.ready:
					if c.err == nil {
						refill = append(refill, func() { p.refillLater(name, c) })
					}
				default:
				}
				continue
			}
			if c.spare == nil {
				continue
			}
			spares = append(spares, c.spare)
			c.spare = nil
			c.sessions--
			if p.idleLocked(name, c) {
				defer c.client.Close()
			}
		}
	}
	p.mu.Unlock()
	for _, s := range spares {
		s.Close()
	}
	for _, f := range refill {
		f()
	}
}

// WaitSpares waits until no spare channel to name is being opened (or ctx
// ends), and returns how many its connections hold.
func (p *Pool) WaitSpares(ctx context.Context, name string) (int, error) {
	for {
		var wait chan struct{}
		held := 0
		p.mu.Lock()
		for _, c := range p.conns[name] {
			if c.refill != nil {
				wait = c.refill
			}
			if c.spare != nil {
				held++
			}
		}
		p.mu.Unlock()
		if wait == nil {
			return held, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return held, ctx.Err()
		}
	}
}

// release gives back a session's place on c. An extra connection (not the
// first) that carries no session any more is closed, its spare with it:
// the pool keeps one idle connection per target, as before there were
// several.
//
// The connection's spare, if it has none, is opened now: the session that
// took it has ended, so the open does not compete with a session's own
// work for the gate's CPU (on a busy gate, a replacement opened at once
// made the session that took the spare slower than one without).
func (p *Pool) release(name string, c *conn) {
	p.mu.Lock()
	c.sessions--
	c.full = false
	idle := p.idleLocked(name, c)
	p.mu.Unlock()
	if idle {
		p.log.Info("idle extra target connection closed", "target", name)
		c.client.Close()
		return
	}
	p.refillLater(name, c)
	p.probeShellLater(name, c)
}

// maxShellProbeTries bounds the probes of one connection that the target
// refused a channel for (at its MaxSessions); then it stays wrapped.
const maxShellProbeTries = 3

// probeShellLater runs the shell probe on c in the background, unless the
// target always wraps (or is guarded), c has an answer or a probe
// running, or has been refused a probe channel too often. It runs once a
// session on c has ended (as the spare's open, so as not to compete with
// a session, and so that a target at MaxSessions 1 is not made to open a
// second connection for the probe's sake); until it answers yes, every
// session on c is wrapped.
func (p *Pool) probeShellLater(name string, c *conn) {
	t := p.targets[name]
	if t == nil || t.cfg.ShellWrapper != config.ShellWrapperAuto || t.cfg.Guarded() {
		return
	}
	p.mu.Lock()
	if p.closed || c.probing || c.probed || c.probeTries >= maxShellProbeTries || !slices.Contains(p.conns[name], c) {
		p.mu.Unlock()
		return
	}
	c.probing = true
	c.probeTries++
	c.sessions++
	p.probes.Add(1)
	p.mu.Unlock()
	timeout := p.ShellProbeTimeout
	if timeout <= 0 {
		timeout = ShellProbeTimeout
	}
	shell := t.cfg.Shell
	if shell == "" {
		shell = DefaultShell
	}
	go func() {
		defer p.probes.Done()
		err := probeShell(c.client, shell, timeout)
		var refused *gossh.OpenChannelError
		p.mu.Lock()
		c.probing = false
		c.probed = !errors.As(err, &refused) || c.probeTries >= maxShellProbeTries
		if err == nil {
			c.plainBash.Store(true)
		}
		c.sessions--
		c.full = false
		idle := p.idleLocked(name, c)
		p.mu.Unlock()
		if idle {
			c.client.Close()
		}
		if err != nil {
			p.log.Info("target login shell is not a plain bash; every line goes wrapped in "+shell, "target", name, "reason", err)
		} else {
			p.log.Info("target login shell is a plain "+shell+"; lines go to it as they are", "target", name)
		}
	}()
}

// DefaultShell is the bash a target runs lines with when its config names
// none.
const DefaultShell = "/bin/bash"

// WaitShellProbe waits until the first connection to name has its shell
// probe's answer (or ctx ends), and returns whether it said plain bash.
// For tests and benchmarks.
func (p *Pool) WaitShellProbe(ctx context.Context, name string) (bool, error) {
	for {
		p.mu.Lock()
		var c *conn
		if list := p.conns[name]; len(list) > 0 {
			c = list[0]
		}
		done := c != nil && c.probed
		p.mu.Unlock()
		if done {
			return c.plainBash.Load(), nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("shell probe of target %s: %w", name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// idleLocked reports whether c is to be closed now that it carries no
// session (a spare does not count): it is an extra connection, which it
// drops from the pool, or one already dropped as broken while it still
// carried sessions. p.mu is held.
func (p *Pool) idleLocked(name string, c *conn) bool {
	if c.inUse() != 0 {
		return false
	}
	if list := p.conns[name]; len(list) > 1 && list[0] != c {
		return p.dropLocked(name, c)
	} else if !slices.Contains(list, c) {
		return true
	}
	return false
}

// dial runs without the pool's lock; sessions wanting the same target wait
// on c.ready instead of dialling a second connection.
func (p *Pool) dial(t *target, c *conn) {
	defer close(c.ready)
	cfg := &gossh.ClientConfig{
		User:              t.cfg.User,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(p.signer)},
		HostKeyCallback:   t.check.check,
		HostKeyAlgorithms: t.check.algorithms(),
		Timeout:           p.DialTimeout,
	}
	cfg.Ciphers = Ciphers
	start := time.Now()
	client, err := dialClient(t.cfg.Address, cfg, p.DialTimeout)
	if err != nil {
		c.err = fmt.Errorf("dial target %s (%s): %w", t.cfg.Name, t.cfg.Address, err)
		p.log.Warn("target dial failed", "target", t.cfg.Name, "address", t.cfg.Address, "err", err)
		if p.OnDialError != nil {
			p.OnDialError(t.cfg.Name, err)
		}
		p.drop(t.cfg.Name, c)
		return
	}
	if t.cfg.RequireGuard {
		if err := probeGuard(client, p.DialTimeout); err != nil {
			client.Close()
			c.err = fmt.Errorf("target %s: %w", t.cfg.Name, err)
			p.log.Error("target refused: require_guard", "target", t.cfg.Name, "err", err)
			p.drop(t.cfg.Name, c)
			return
		}
	}
	c.client = client
	p.log.Info("target connected", "target", t.cfg.Name, "address", t.cfg.Address, "took", time.Since(start))
	go p.watch(t.cfg.Name, c)
}

func dialClient(addr string, cfg *gossh.ClientConfig, timeout time.Duration) (*gossh.Client, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := gossh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return gossh.NewClient(sc, chans, reqs), nil
}

// watch drops c from the pool when its connection ends, and probes it while
// it is idle so that a silently dead target is noticed.
func (p *Pool) watch(name string, c *conn) {
	done := make(chan struct{})
	go func() {
		c.client.Wait()
		close(done)
	}()
	tick := time.NewTicker(p.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-done:
			p.drop(name, c)
			p.log.Info("target connection closed", "target", name)
			return
		case <-tick.C:
			if err := keepAlive(c.client, p.DialTimeout); err != nil {
				p.log.Warn("target keepalive failed", "target", name, "err", err)
				c.client.Close()
			}
		}
	}
}

func keepAlive(client *gossh.Client, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout):
		return errors.New("no answer")
	}
}

func (p *Pool) drop(name string, c *conn) {
	p.mu.Lock()
	p.dropLocked(name, c)
	p.mu.Unlock()
}

// dropLocked removes c from the pool, if it is there; p.mu is held.
func (p *Pool) dropLocked(name string, c *conn) bool {
	list := p.conns[name]
	for i, x := range list {
		if x == c {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(p.conns, name)
			} else {
				p.conns[name] = list
			}
			return true
		}
	}
	return false
}

// Close closes every connection; sessions on them end, and their spares
// are closed. It returns once no spare is being opened.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string][]*conn{}
	p.mu.Unlock()
	for _, list := range conns {
		for _, c := range list {
			<-c.ready
			if c.client != nil {
				c.client.Close()
			}
		}
	}
	p.refills.Wait()
	p.probes.Wait()
	return nil
}
