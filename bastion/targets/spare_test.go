package targets

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/config"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

func limitedPool(t *testing.T, max int) (*Pool, *limitedTarget) {
	t.Helper()
	client := sshtest.Signer(t)
	lt, hostKey := startLimitedTarget(t, client.PublicKey(), max)
	p, err := NewPool(client, []config.Target{{Name: "t1", Address: lt.addr, User: "x", HostKeys: []string{authorized(hostKey)}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, lt
}

// waitFor polls cond until it holds, failing with msg after a bound.
func waitFor(t *testing.T, msg string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(msg)
}

func spares(t *testing.T, p *Pool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.WaitSpares(ctx, "t1")
	if err != nil {
		t.Fatalf("spares still opening after 30s: %v", err)
	}
	return n
}

// sparedPool returns a pool on a target that lets sessions finish at
// once, after one session has run: its connection holds one spare.
func sparedPool(t *testing.T) (*Pool, *limitedTarget) {
	t.Helper()
	p, lt := limitedPool(t, 10)
	close(lt.release)
	runOne(t, p)
	wantSpares(t, p, 1, "after a session")
	return p, lt
}

// startWork opens a session on t1 and starts "work" in it, or fails the
// test; the caller closes the session.
func startWork(t *testing.T, p *Pool) *Session {
	t.Helper()
	s, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("work"); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

// wantSpares fails the test unless p has want spares for t1 once they
// settle; when says at which point of the test.
func wantSpares(t *testing.T, p *Pool, want int, when string) {
	t.Helper()
	if n := spares(t, p); n != want {
		t.Fatalf("%d spares %s; want %d", n, when, want)
	}
}

// runOne opens a session on t1 and runs "work" in it, or fails the test;
// it reports whether the session was on a connection whose shell probe
// said plain bash (Session.PlainBash).
func runOne(t *testing.T, p *Pool) (plainBash bool) {
	t.Helper()
	s, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if out, err := s.Output("work"); err != nil || string(out) != "done\n" {
		t.Fatalf("session: %q, %v", out, err)
	}
	return s.PlainBash()
}

// A connection keeps one spare channel open, and the next session takes
// it instead of opening one: the target sees the session's exec on a
// channel opened before the session asked, and a new spare after.
func TestPoolSessionTakesTheSpare(t *testing.T) {
	p, lt := sparedPool(t)
	waitFor(t, "the target never saw the first session's channel close and the spare open", func() bool {
		return lt.openNow.Load() == 1 && lt.accepted.Load() == 2
	})
	before := lt.accepted.Load()
	s, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	// Taking the spare opened nothing for this session; its replacement
	// is opened once the session ends.
	wantSpares(t, p, 0, "while the session that took the spare runs")
	if out, err := s.Output("work"); err != nil || string(out) != "done\n" {
		t.Fatalf("session on the spare: %q, %v", out, err)
	}
	if got := lt.accepted.Load(); got != before {
		t.Fatalf("target accepted %d channels for a session that had a spare; want 0", got-before)
	}
	s.Close()
	wantSpares(t, p, 1, "after the session ended (replaced)")
	waitFor(t, "the spare's replacement never reached the target", func() bool { return lt.accepted.Load() >= before+1 })
	if got := lt.accepted.Load(); got != before+1 {
		t.Fatalf("target accepted %d channels for a session and the spare's replacement; want 1 (the session used the spare)", got-before)
	}
	if got := lt.conns.Load(); got != 1 {
		t.Fatalf("target saw %d connections; want 1", got)
	}
}

// A spare counts against the target's MaxSessions: at MaxSessions 1 the
// target refuses the spare, the connection then never holds one, and a
// second concurrent session goes to a new connection, as without spares.
// No session fails, and the connections carrying sessions stay.
func TestPoolNoSpareWhenTargetRefuses(t *testing.T) {
	p, lt := limitedPool(t, 1)
	s1 := startWork(t, p)
	defer s1.Close()
	p.SetSpares(true) // each connection opens its spare now
	wantSpares(t, p, 0, "on a connection at MaxSessions 1")
	if lt.refused.Load() != 1 {
		t.Fatalf("the target refused %d channels; want 1 (the spare)", lt.refused.Load())
	}
	p.mu.Lock()
	first := p.conns["t1"][0]
	noSpare := first.noSpare
	p.mu.Unlock()
	if !noSpare {
		t.Fatal("the connection the target refused a spare on may hold one again")
	}
	s2, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatalf("second session at MaxSessions 1: %v", err)
	}
	defer s2.Close()
	if err := s2.Start("work"); err != nil {
		t.Fatal(err)
	}
	if got := lt.closed.Load(); got != 0 {
		t.Fatalf("%d connections closed while they carried sessions", got)
	}
	close(lt.release)
	for i, s := range []*Session{s1, s2} {
		if err := s.Wait(); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		s.Close()
	}
	if got := lt.conns.Load(); got != 2 {
		t.Fatalf("target saw %d connections for 2 sessions at MaxSessions 1; want 2", got)
	}
	// Both sessions ended: the first connection opens no spare.
	wantSpares(t, p, 0, "after the sessions ended")
	p.mu.Lock()
	held := first.spare != nil
	p.mu.Unlock()
	if held {
		t.Fatal("the connection the target refused a spare on holds one")
	}
}

// A session refused on a connection while its spare was being opened
// takes that spare when it arrives (its place is the session's), rather
// than dialling another connection.
func TestPoolRefusedSessionTakesTheSpareBeingOpened(t *testing.T) {
	p, lt := limitedPool(t, 2)
	s1 := startWork(t, p)
	defer s1.Close()
	hold := make(chan struct{})
	lt.mu.Lock()
	lt.hold = hold
	lt.mu.Unlock()
	p.SetSpares(true) // the spare's open waits at the target
	waitFor(t, "the spare's open never reached the target", func() bool { return lt.holding.Load() == 1 })
	p.mu.Lock()
	c := p.conns["t1"][0]
	p.mu.Unlock()
	type result struct {
		s   *Session
		err error
	}
	got := make(chan result, 1)
	go func() {
		s, err := p.NewSession(context.Background(), "t1")
		got <- result{s, err}
	}()
	// The session has its place counted (s1, the spare on its way, and
	// it): its open is queued behind the spare's at the target, which
	// accepts the spare (its second channel) and refuses the session.
	waitFor(t, "the session never asked for a channel", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return c.sessions == 3
	})
	lt.mu.Lock()
	lt.hold = nil
	lt.mu.Unlock()
	close(hold)
	var r result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not get a channel within 30s")
	}
	if r.err != nil {
		t.Fatalf("session refused on a connection whose spare was being opened: %v", r.err)
	}
	defer r.s.Close()
	if lt.refused.Load() != 1 {
		t.Fatalf("target refused %d channels; want 1 (the session's own open); accepted %d, conns %d", lt.refused.Load(), lt.accepted.Load(), lt.conns.Load())
	}
	if err := r.s.Start("work"); err != nil {
		t.Fatalf("session on the spare: %v", err)
	}
	if got := lt.conns.Load(); got != 1 {
		t.Fatalf("target saw %d connections; want 1 (the session took the spare)", got)
	}
	close(lt.release)
	for i, s := range []*Session{s1, r.s} {
		if err := s.Wait(); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
	}
}

// A spare the target closed is discarded: the session that would have
// taken it opens a new channel and runs.
func TestPoolSpareClosedByTarget(t *testing.T) {
	p, lt := sparedPool(t)
	waitFor(t, "the target never saw the spare", func() bool { return lt.accepted.Load() == 2 })
	if n := lt.closeIdle(); n != 1 {
		t.Fatalf("target closed %d idle channels; want 1 (the spare)", n)
	}
	p.mu.Lock()
	spare := p.conns["t1"][0].spare
	p.mu.Unlock()
	waitFor(t, "the pool never saw the target close its spare", func() bool { return !alive(spare) })
	before := lt.accepted.Load()
	runOne(t, p)
	if got := lt.accepted.Load(); got < before+1 {
		t.Fatalf("no new channel for the session after its spare was closed (%d accepted before, %d after)", before, got)
	}
}

// Spares go when the pool closes (and when they are turned off), leaving
// nothing open on the target.
func TestPoolClosesSpares(t *testing.T) {
	p, lt := sparedPool(t)
	p.SetSpares(false)
	waitFor(t, "the spare is still open on the target after spares were turned off", func() bool { return lt.openNow.Load() == 0 })
	runOne(t, p)
	wantSpares(t, p, 0, "while they are off")
	p.SetSpares(true)
	runOne(t, p)
	wantSpares(t, p, 1, "once on again")
	p.Close()
	waitFor(t, "channels still open on the target after the pool closed", func() bool { return lt.openNow.Load() == 0 })
	if _, err := p.NewSession(context.Background(), "t1"); err != ErrClosed {
		t.Fatalf("session on a closed pool: %v; want ErrClosed", err)
	}
}

// A spare on a connection that broke is not handed out once the pool has
// seen the break (x/crypto closes the channels of a connection whose read
// side ended): the next session runs, on a new connection.
func TestPoolSpareOnBrokenConnection(t *testing.T) {
	p, l := demoPool(t)
	if _, err := run(t, p, "t1", "true"); err != nil {
		t.Fatal(err)
	}
	wantSpares(t, p, 1, "after a session")
	p.mu.Lock()
	spare := p.conns["t1"][0].spare
	p.mu.Unlock()
	for _, c := range l.accepted() {
		c.Close()
	}
	waitFor(t, "the spare of a broken connection still looks open", func() bool { return !alive(spare) })
	out, err := run(t, p, "t1", "echo again")
	if err != nil || out != "again\n" {
		t.Fatalf("after the connection broke: run = %q, %v; want a fresh connection", out, err)
	}
	if n := len(l.accepted()); n != 2 {
		t.Errorf("target saw %d connections; want 2 (one redial)", n)
	}
}
