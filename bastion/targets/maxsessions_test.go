package targets

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// limitedTarget is an SSH server that, like sshd with MaxSessions, refuses
// a session channel with "open failed" (connect failed) when a connection
// already has max sessions open. Every exec waits for release, then exits
// 0, so that sessions overlap for as long as the test wants.
type limitedTarget struct {
	max     int
	release chan struct{}
	conns   atomic.Int32
	closed  atomic.Int32 // connections the client closed
	refused atomic.Int32
	addr    string

	accepted atomic.Int32 // session channels accepted
	openNow  atomic.Int32 // session channels open now, on every connection
	mu       sync.Mutex
	idle     map[gossh.Channel]bool // accepted channels no request came on yet
	// hold, while set, stops the target from answering channel opens
	// until it is closed.
	hold    chan struct{}
	holding atomic.Int32 // channel opens waiting on hold
}

// closeIdle closes, from the target's side, every channel no request came
// on yet (as sshd's ChannelTimeout would), and returns how many.
func (lt *limitedTarget) closeIdle() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	n := 0
	for ch := range lt.idle {
		ch.Close()
		delete(lt.idle, ch)
		n++
	}
	return n
}

func startLimitedTarget(t *testing.T, client gossh.PublicKey, max int) (*limitedTarget, gossh.PublicKey) {
	t.Helper()
	lt := &limitedTarget{max: max, release: make(chan struct{}), idle: map[gossh.Channel]bool{}}
	addr, hostKey := serveSSH(t, client, lt.serve)
	lt.addr = addr
	return lt, hostKey
}

func (lt *limitedTarget) serve(nc net.Conn, cfg *gossh.ServerConfig) {
	lt.conns.Add(1)
	defer nc.Close()
	sc, chans, reqs, err := gossh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	var open atomic.Int32
	for nch := range chans {
		lt.mu.Lock()
		hold := lt.hold
		lt.mu.Unlock()
		if hold != nil {
			lt.holding.Add(1)
			<-hold
			lt.holding.Add(-1)
		}
		if open.Load() >= int32(lt.max) {
			lt.refused.Add(1)
			nch.Reject(gossh.ConnectionFailed, "open failed") // as OpenSSH does
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		open.Add(1)
		lt.accepted.Add(1)
		lt.openNow.Add(1)
		lt.mu.Lock()
		lt.idle[ch] = true
		lt.mu.Unlock()
		go func() {
			defer open.Add(-1)
			defer lt.openNow.Add(-1)
			defer ch.Close()
			defer func() {
				lt.mu.Lock()
				delete(lt.idle, ch)
				lt.mu.Unlock()
			}()
			for r := range creqs {
				lt.mu.Lock()
				delete(lt.idle, ch)
				lt.mu.Unlock()
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				<-lt.release
				ch.Write([]byte("done\n"))
				ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{0}))
				return
			}
		}()
	}
	sc.Wait()
	lt.closed.Add(1)
}

// Issue 16 item 1: with MaxSessions 2 on the target, five concurrent
// sessions through one pool all complete, over three connections, and no
// connection that carries sessions is closed. Against the old pool the
// third session's refusal closed the shared connection and killed the
// first two.
func TestPoolOpensAnotherConnectionWhenTargetIsFull(t *testing.T) {
	p, lt := limitedPool(t, 2) // closed at cleanup, after the sessions

	const n = 5
	sessions := make([]*Session, n)
	for i := range sessions {
		s, err := p.NewSession(context.Background(), "t1")
		if err != nil {
			t.Fatalf("session %d of %d on a target with MaxSessions 2: %v", i+1, n, err)
		}
		defer s.Close()
		if err := s.Start("work"); err != nil {
			t.Fatalf("start session %d: %v", i+1, err)
		}
		sessions[i] = s
	}
	if got := lt.closed.Load(); got != 0 {
		t.Fatalf("%d target connections closed while they carried sessions", got)
	}
	if got := lt.conns.Load(); got != 3 {
		t.Errorf("target saw %d connections for 5 sessions at 2 per connection; want 3", got)
	}
	close(lt.release)
	errs := make(chan error, n)
	for _, s := range sessions {
		go func() { errs <- s.Wait() }()
	}
	for i := range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("session ended with %v; want exit 0", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d sessions ended within 30s", i, n)
		}
	}
}

// Past MaxConnsPerTarget the new session is refused with ErrBusy, and the
// sessions already running are untouched.
func TestPoolBusyTargetRefusesOnlyTheNewSession(t *testing.T) {
	p, lt := limitedPool(t, 2) // closed at cleanup, after the sessions
	p.MaxConnsPerTarget = 2
	var running []*Session
	for range 4 {
		s := startWork(t, p)
		defer s.Close()
		running = append(running, s)
	}
	if _, err := p.NewSession(context.Background(), "t1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("fifth session with 2 connections of 2 sessions = %v; want ErrBusy", err)
	}
	if got := lt.closed.Load(); got != 0 {
		t.Fatalf("%d target connections closed while they carried sessions", got)
	}
	// A finished session makes room again.
	close(lt.release)
	if err := running[0].Wait(); err != nil {
		t.Fatal(err)
	}
	running[0].Close()
	s, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatalf("session after one ended: %v", err)
	}
	s.Close()
}
