package bastion

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"

	"github.com/anmitsu/go-shlex"
	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// The gate serves session channels itself instead of through gliderlabs'
// DefaultSessionHandler, because a client can wedge or crash that one:
//
//   - its window-change handling sends on a channel of one that nobody
//     may be reading, so a second change blocks the request loop forever
//     (and with it the session's memory after the client is gone);
//   - it delivers signals with a blocking send while holding the
//     session's mutex, so Signals(nil) deadlocks against a flood (and
//     it keeps early signals for a goroutine that may block for ever);
//   - it keeps every env request, of any size, before exec;
//   - its pty-req parser adds a client's 32-bit length to 4 without
//     overflow checks, and keeps any terminal size, which the console then
//     allocates.
//
// Here nothing a client sends blocks the request loop: window changes are
// coalesced (the handler sees the latest), signals are dropped when the
// handler is not keeping up, and every count and size is bounded by
// config.Limits.

// Terminal sizes beyond these are clamped at the edge, for the console and
// for targets alike. A 1000-column terminal is a 4K screen in a 4-pixel
// font; nothing real is bigger, and the console allocates per cell.
const (
	maxTermWidth  = 1000
	maxTermHeight = 1000
	// maxTermName bounds the TERM a pty-req names; real ones are short.
	maxTermName = 64
)

// sessionChannel accepts a session channel and serves its requests.
func sessionChannel(log *slog.Logger, lim config.Limits) ssh.ChannelHandler {
	return func(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
		if lc, ok := ctx.Value(limitedConnKey{}).(*limitedConn); ok {
			if n := lc.sessions.Add(1); n > int32(lim.MaxSessionsPerConnection) {
				lc.sessions.Add(-1)
				log.Warn("session refused: too many on one connection", "login", conn.User(), "remote", conn.RemoteAddr().String(), "limit", lim.MaxSessionsPerConnection)
				nc.Reject(gossh.ResourceShortage, fmt.Sprintf("keyturn: at most %d sessions per connection", lim.MaxSessionsPerConnection))
				return
			}
			defer lc.sessions.Add(-1)
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			log.Warn("session channel not accepted", "login", conn.User(), "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
		s := &session{Channel: ch, conn: conn, ctx: ctx, handler: srv.Handler, log: log, lim: lim, gone: make(chan struct{})}
		s.serve(reqs)
	}
}

// session implements ssh.Session for one channel.
type session struct {
	gossh.Channel
	conn    *gossh.ServerConn
	ctx     ssh.Context
	handler ssh.Handler
	log     *slog.Logger
	lim     config.Limits

	// gone is closed when the client's side of the channel is gone (its
	// close, or the connection's end).
	gone chan struct{}

	// Only the request loop uses these.
	started    bool
	requests   int
	envDropped int

	mu         sync.Mutex
	exited     bool
	env        []string
	rawCmd     string
	pty        *ssh.Pty
	winch      chan ssh.Window // capacity 1: holds the latest size only
	sigCh      chan<- ssh.Signal
	sigDropped int
}

// serve answers the channel's requests until the client closes it. No
// case blocks on the handler.
func (s *session) serve(reqs <-chan *gossh.Request) {
	defer close(s.gone)
	defer func() {
		s.mu.Lock()
		if s.winch != nil {
			close(s.winch) // handlers ranging over window changes end
		}
		if s.sigDropped > 0 {
			s.log.Warn("signals dropped", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(), "count", s.sigDropped)
		}
		s.mu.Unlock()
	}()
	for req := range reqs {
		ok, then := s.safeHandle(req)
		req.Reply(ok, nil)
		if then != nil {
			then() // after the reply, as sshd does: the handler may write at once
		}
	}
}

// safeHandle is handle with a panic turned into a refusal and the end of
// this session alone: a bug in parsing one client's request must not take
// the gate down.
func (s *session) safeHandle(req *gossh.Request) (ok bool, then func()) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("session request panicked", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(),
				"type", truncate(req.Type, 64), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok, then = false, nil
			s.Close()
		}
	}()
	return s.handle(req)
}

// handle answers one request: true for yes, and what to do once the reply
// is sent.
func (s *session) handle(req *gossh.Request) (bool, func()) {
	if !s.started {
		s.requests++
		if s.requests > s.lim.MaxRequestsBeforeExec {
			if s.requests == s.lim.MaxRequestsBeforeExec+1 {
				s.log.Warn("session closed: too many requests before a command", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(), "limit", s.lim.MaxRequestsBeforeExec)
				// The write may wait for the client's window; the
				// request loop must not.
				go func() {
					fmt.Fprintf(s.Stderr(), "keyturn: more than %d requests before a command; session closed\r\n", s.lim.MaxRequestsBeforeExec)
					s.Close()
				}()
			}
			return false, nil
		}
	}
	// An exec's command line is bounded by the transport's packet size
	// and by the gate's own line limit, which says why it refuses.
	if req.Type != "exec" && len(req.Payload) > s.lim.MaxRequestBytes {
		s.log.Warn("session request refused: too big", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(), "type", truncate(req.Type, 64), "bytes", len(req.Payload), "limit", s.lim.MaxRequestBytes)
		return false, nil
	}
	switch req.Type {
	case "exec", "shell":
		return s.start(req)
	case "env":
		return s.setEnv(req.Payload), nil
	case "pty-req":
		return s.setPty(req.Payload), nil
	case "window-change":
		return s.windowChange(req.Payload), nil
	case "signal":
		return s.signal(req.Payload), nil
	}
	if refusedSessionRequests[req.Type] {
		s.log.Warn("session request refused", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(), "type", req.Type, "detail", truncate(requestDetail(req), 64))
	}
	return false, nil
}

// start accepts an exec or shell request, once, and returns what runs the
// handler.
func (s *session) start(req *gossh.Request) (bool, func()) {
	if s.started {
		return false, nil
	}
	cmd := ""
	if req.Type == "exec" {
		c, rest, ok := parseString(req.Payload)
		if !ok || len(rest) != 0 {
			return false, nil
		}
		cmd = c
	}
	s.mu.Lock()
	s.rawCmd = cmd
	s.mu.Unlock()
	s.started = true
	if s.envDropped > 0 {
		s.log.Warn("env requests dropped", "login", s.conn.User(), "remote", s.conn.RemoteAddr().String(), "count", s.envDropped, "limit", s.lim.MaxEnv)
	}
	return true, func() {
		go func() {
			s.handler(s)
			s.Exit(0)
		}()
	}
}

func (s *session) setEnv(payload []byte) bool {
	if s.started {
		return false
	}
	key, rest, ok := parseString(payload)
	if !ok {
		return false
	}
	value, rest, ok := parseString(rest)
	if !ok || len(rest) != 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.env) >= s.lim.MaxEnv {
		s.envDropped++
		return false
	}
	s.env = append(s.env, key+"="+value)
	return true
}

func (s *session) setPty(payload []byte) bool {
	if s.started {
		return false
	}
	term, rest, ok := parseString(payload)
	if !ok || len(term) > maxTermName {
		return false
	}
	w, h, ok := parseSize(rest)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty != nil {
		return false
	}
	s.pty = &ssh.Pty{Term: term, Window: clampWindow(w, h)}
	s.winch = make(chan ssh.Window, 1)
	s.winch <- s.pty.Window
	return true
}

func (s *session) windowChange(payload []byte) bool {
	w, h, ok := parseSize(payload)
	if !ok || w == 0 || h == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty == nil {
		return false
	}
	s.pty.Window = clampWindow(w, h)
	// Only the latest size matters: replace an unread one. The loop is
	// the only sender, so the send below never blocks.
	select {
	case <-s.winch:
	default:
	}
	s.winch <- s.pty.Window
	return true
}

func (s *session) signal(payload []byte) bool {
	name, _, ok := parseString(payload)
	if !ok || name == "" || len(name) > 32 {
		return false
	}
	sig := ssh.Signal(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sigCh == nil {
		// As sshd: a signal with no command to take it is dropped,
		// rather than kept for a command that has not started.
		s.sigDropped++
		return false
	}
	select {
	case s.sigCh <- sig:
		return true
	default:
		s.sigDropped++ // the handler is not keeping up
		return false
	}
}

// Signals implements ssh.Session. Delivery never blocks: a signal that
// does not fit in c, or comes while no channel is registered, is dropped
// (and counted in the log).
func (s *session) Signals(c chan<- ssh.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sigCh = c
}

// Break implements ssh.Session; the gate refuses break requests, so c
// never receives.
func (s *session) Break(chan<- bool) {}

// Pty implements ssh.Session. The window channel holds the latest size
// only, and is closed when the channel's requests end.
func (s *session) Pty() (ssh.Pty, <-chan ssh.Window, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty == nil {
		return ssh.Pty{}, nil, false
	}
	return *s.pty, s.winch, true
}

// Write implements ssh.Session as gliderlabs does: with a PTY, \n becomes
// \r\n, since the gate has no terminal modes.
func (s *session) Write(p []byte) (int, error) {
	if !s.hasPty() {
		return s.Channel.Write(p)
	}
	m := len(p)
	p = bytes.ReplaceAll(p, []byte{'\n'}, []byte{'\r', '\n'})
	p = bytes.ReplaceAll(p, []byte{'\r', '\r', '\n'}, []byte{'\r', '\n'})
	n, err := s.Channel.Write(p)
	return min(n, m), err
}

func (s *session) hasPty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pty != nil
}

// Exit implements ssh.Session.
func (s *session) Exit(code int) error {
	s.mu.Lock()
	if s.exited {
		s.mu.Unlock()
		return errors.New("bastion: session exit sent twice")
	}
	s.exited = true
	s.mu.Unlock()
	status := struct{ Status uint32 }{uint32(code)}
	if _, err := s.SendRequest("exit-status", false, gossh.Marshal(&status)); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

func (s *session) User() string         { return s.conn.User() }
func (s *session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }
func (s *session) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *session) Subsystem() string    { return "" }
func (s *session) Context() ssh.Context { return s.ctx }
func (s *session) RawCommand() string   { s.mu.Lock(); defer s.mu.Unlock(); return s.rawCmd }
func (s *session) Environ() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.env...)
}
func (s *session) PublicKey() ssh.PublicKey {
	k, _ := s.ctx.Value(ssh.ContextKeyPublicKey).(ssh.PublicKey)
	return k
}

// Command implements ssh.Session, splitting as gliderlabs does.
func (s *session) Command() []string {
	cmd, _ := shlex.Split(s.RawCommand(), true)
	return cmd
}

// Permissions implements ssh.Session.
func (s *session) Permissions() ssh.Permissions {
	if p, ok := s.ctx.Value(ssh.ContextKeyPermissions).(*ssh.Permissions); ok && p != nil {
		return *p
	}
	return ssh.Permissions{}
}

// clientGone returns a channel closed when the client's side of s is
// gone, or nil for a session the gate did not serve itself.
func clientGone(s ssh.Session) <-chan struct{} {
	for {
		switch x := s.(type) {
		case *session:
			return x.gone
		case ptySnapshot:
			s = x.Session
		case authedSession:
			s = x.Session
		case withoutPTY:
			s = x.Session
		default:
			return nil
		}
	}
}

// clampWindow bounds a client's terminal size.
func clampWindow(w, h uint32) ssh.Window {
	return ssh.Window{Width: int(min(w, maxTermWidth)), Height: int(min(h, maxTermHeight))}
}

// parseString reads an SSH string (uint32 length, bytes), with the length
// checked in 64 bits so that no client length wraps around.
func parseString(in []byte) (string, []byte, bool) {
	if len(in) < 4 {
		return "", nil, false
	}
	n := uint64(binary.BigEndian.Uint32(in))
	if uint64(len(in)-4) < n {
		return "", nil, false
	}
	return string(in[4 : 4+n]), in[4+n:], true
}

// parseSize reads the width and height in characters that start both a
// pty-req (after TERM) and a window-change.
func parseSize(in []byte) (w, h uint32, ok bool) {
	if len(in) < 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(in), binary.BigEndian.Uint32(in[4:]), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
