package bastion

import (
	"context"
	"sync"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
)

// handlerSet counts the session handlers that run, so that whoever owns
// the gate can wait for them before closing what they write to. gliderlabs'
// Shutdown waits for connections, not for handlers: after the grace period
// it closes the connections while a released command's handler may still
// be recording its outcome. Once closed, it starts no handler.
type handlerSet struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // made by wait, closed when n reaches 0
}

// track is the outermost stage of the request path: a session that starts
// after the gate began to stop is refused, and every other one is counted
// until its handler returns.
func (h *handlerSet) track(log interface{ Warn(string, ...any) }) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			if !h.add() {
				log.Warn("session refused: the gate is stopping", "login", s.User(), "remote", s.RemoteAddr().String())
				s.Stderr().Write([]byte("keyturn: the gate is stopping; try again in a moment\r\n"))
				s.Exit(exitcode.Unavailable)
				return
			}
			defer h.done()
			next(s)
		}
	}
}

func (h *handlerSet) add() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.n++
	return true
}

func (h *handlerSet) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n--; h.n == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// wait starts no more handlers and waits until the running ones have
// returned or ctx is done; it says how many were still running.
func (h *handlerSet) wait(ctx context.Context) int {
	h.mu.Lock()
	h.closed = true
	if h.n == 0 {
		h.mu.Unlock()
		return 0
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.n
	}
}

// WaitHandlers starts no more sessions and waits, until ctx is done, for
// the session handlers still running to return: after Shutdown, and after
// the target connections are closed (so a handler blocked on its target
// ends), before the store closes. It returns how many were still running.
func (g *Gate) WaitHandlers(ctx context.Context) int {
	n := g.handlers.wait(ctx)
	if n > 0 {
		g.log.Warn("session handlers still running at stop", "count", n)
	}
	return n
}
