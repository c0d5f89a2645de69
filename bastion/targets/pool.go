package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// Pool holds at most one SSH client connection per target.
// It is safe for concurrent use; no lock is held while dialling.
type Pool struct {
	signer  gossh.Signer
	targets map[string]*target
	log     *slog.Logger

	// DialTimeout bounds the TCP connect and SSH handshake.
	DialTimeout time.Duration
	// KeepAlive is how often an idle connection is probed, so a dead one is
	// found before a session needs it.
	KeepAlive time.Duration
	// OnDialError, if set, is called (on the dialling goroutine) each time
	// a connection to a target fails: TCP, SSH handshake or host key. It
	// feeds the dial-error metric; set it before the pool is first used.
	OnDialError func(target string, err error)

	mu     sync.Mutex
	conns  map[string]*conn
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
		signer:      signer,
		targets:     make(map[string]*target, len(cfgs)),
		log:         log,
		DialTimeout: 10 * time.Second,
		KeepAlive:   30 * time.Second,
		conns:       make(map[string]*conn),
	}
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

// NewSession opens a session on the named target, dialling if needed. A
// pooled connection that turns out to be broken is dropped and dialled again
// once.
func (p *Pool) NewSession(ctx context.Context, name string) (*gossh.Session, error) {
	for attempt := 0; ; attempt++ {
		c, err := p.client(ctx, name)
		if err != nil {
			return nil, err
		}
		s, err := c.client.NewSession()
		if err == nil {
			return s, nil
		}
		p.drop(name, c)
		c.client.Close()
		if attempt > 0 {
			return nil, fmt.Errorf("open session on target %s: %w", name, err)
		}
		p.log.Info("target connection broken; dialling again", "target", name, "err", err)
	}
}

func (p *Pool) client(ctx context.Context, name string) (*conn, error) {
	t, ok := p.targets[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTarget, name)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	c, ok := p.conns[name]
	if !ok {
		c = &conn{ready: make(chan struct{})}
		p.conns[name] = c
		go p.dial(t, c)
	}
	p.mu.Unlock()

	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
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
	if p.conns[name] == c {
		delete(p.conns, name)
	}
	p.mu.Unlock()
}

// Close closes every connection; sessions on them end.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*conn{}
	p.mu.Unlock()
	for _, c := range conns {
		<-c.ready
		if c.client != nil {
			c.client.Close()
		}
	}
	return nil
}
