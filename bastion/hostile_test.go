package bastion

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// Regression tests for issue 16: a client with one key (or none) against
// the gate's transport. Every wait is bounded and fails with a message.

// hostileBound is how long any one step may take before the test calls the
// gate wedged.
const hostileBound = 30 * time.Second

var allowAll = fixedDecider{policy.Decision{Verdict: policy.Allow}}

// dialAs logs in to the gate; the client is closed at the test's end.
func (tg *testGate) dialAs(t testing.TB, login string, key gossh.Signer) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
		Timeout: hostileBound,
	})
	if err != nil {
		t.Fatalf("dial gate as %s: %v", login, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// terminalSession dials the gate as alice+t1 and opens a session with an
// 80x24 terminal; both close at the test's end.
func (tg *testGate) terminalSession(t testing.TB) (*gossh.Client, *gossh.Session) {
	t.Helper()
	c := tg.dialAs(t, "alice+t1", tg.alice)
	s := newSession(t, c)
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	return c, s
}

// newSession opens a session on c; it closes with c.
func newSession(t testing.TB, c *gossh.Client) *gossh.Session {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("open a session: %v", err)
	}
	return s
}

// within runs f and fails the test if it has not returned after d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v: the gate is wedged", what, d)
	}
}

// waitGoroutines polls until the process is back to at most base
// goroutines (plus slack), and fails with a dump if it is not within the
// bound.
func waitGoroutines(t testing.TB, base int) {
	t.Helper()
	const slack = 2
	deadline := time.Now().Add(hostileBound)
	for {
		n := gateGoroutines()
		if n <= base+slack {
			return
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Fatalf("%d goroutines %v after the sessions ended; baseline %d: leaked\n%s", n, hostileBound, base, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gateGoroutines counts the process's goroutines but those of the
// in-process demo target, whose sessions end when their commands do (it
// does not hang up a terminal when the gate closes the channel, as sshd
// does): the leaks looked for are the gate's.
func gateGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\ngoroutine ")) {
		if !bytes.Contains(g, []byte("bastion/demotarget.")) {
			count++
		}
	}
	return count
}

// startCheckedGate is an allow-all test gate whose goroutines the test
// checks, at its end, are back to where they were before it dialled.
func startCheckedGate(t *testing.T) *testGate {
	t.Helper()
	tg := startGateWith(t, allowAll)
	tg.checkLeaks(t)
	return tg
}

// checkLeaks takes the goroutine baseline now and checks, once the test
// has ended and the clients it dialled since are closed (cleanups run last
// first), that the gate's goroutines are back to it.
func (tg *testGate) checkLeaks(t *testing.T) {
	t.Helper()
	base := tg.baseline(t)
	t.Cleanup(func() { waitGoroutines(t, base) })
}

// baseline returns the goroutine count once the gate has served one
// session to t1 (so that its target connection exists) and settled.
func (tg *testGate) baseline(t *testing.T) int {
	t.Helper()
	if _, stderr, st := tg.run(t, "alice+t1", tg.alice, "true"); st != 0 {
		t.Fatalf("warm-up session: %d %q", st, stderr)
	}
	time.Sleep(100 * time.Millisecond) // let the warm-up's goroutines end
	return gateGoroutines()
}

func ptyReq(term string, w, h uint32) []byte {
	return gossh.Marshal(struct {
		Term          string
		Columns, Rows uint32
		Width, Height uint32
		Modes         string
	}{Term: term, Columns: w, Rows: h, Modes: "\x00"})
}

func winChange(w, h uint32) []byte {
	return gossh.Marshal(struct{ Columns, Rows, Width, Height uint32 }{w, h, 0, 0})
}

func envReq(k, v string) []byte { return gossh.Marshal(struct{ K, V string }{k, v}) }

// exitOf waits for s and returns its exit status, within the bound.
func exitOf(t testing.TB, s *gossh.Session, what string) int {
	t.Helper()
	var err error
	within(t, hostileBound, what, func() { err = s.Wait() })
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitStatus()
	}
	t.Fatalf("%s: %v", what, err)
	return -1
}

// readUntil reads r until want appears, within the bound.
func readUntil(t testing.TB, r io.Reader, want, what string) string {
	t.Helper()
	var got strings.Builder
	within(t, hostileBound, what, func() {
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), want) {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				return
			}
		}
	})
	if !strings.Contains(got.String(), want) {
		t.Fatalf("%s: output %q has no %q", what, got.String(), want)
	}
	return got.String()
}

// Item 5: a pty-req of 4294967295x4294967295 reaches the console and a
// target clamped; the gate stays up. The old console allocated the size
// per line and the runtime aborted the whole gate.
func TestHostileHugeTerminal(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{})
	const huge = 4294967295

	t.Run("target", func(t *testing.T) {
		s := newSession(t, tg.dialAs(t, "alice+t1", tg.alice))
		if ok, err := s.SendRequest("pty-req", true, ptyReq("xterm", huge, huge)); err != nil || !ok {
			t.Fatalf("pty-req: %v %v", ok, err)
		}
		out, err := s.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start("stty size"); err != nil {
			t.Fatal(err)
		}
		got := readUntil(t, out, "\n", "stty size on the target")
		if strings.TrimSpace(got) != fmt.Sprintf("%d %d", maxTermHeight, maxTermWidth) {
			t.Errorf("the target saw a terminal of %q; want it clamped to %dx%d", strings.TrimSpace(got), maxTermWidth, maxTermHeight)
		}
		exitOf(t, s, "stty size")
	})

	t.Run("console", func(t *testing.T) {
		s := newSession(t, tg.dialAs(t, "carol", tg.carol))
		defer s.Close()
		if ok, err := s.SendRequest("pty-req", true, ptyReq("xterm", huge, huge)); err != nil || !ok {
			t.Fatalf("pty-req: %v %v", ok, err)
		}
		out, err := s.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Shell(); err != nil {
			t.Fatal(err)
		}
		// The console draws; a window change to the same absurd size
		// follows.
		readUntil(t, out, "\x1b[", "the console's first frame")
		if _, err := s.SendRequest("window-change", false, winChange(huge, huge)); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, out)
		s.Close()
	})

	if out, _, st := tg.run(t, "alice", tg.alice, "whoami"); st != 0 || !strings.Contains(out, "user: alice") {
		t.Fatalf("the gate after absurd terminal sizes: %d %q", st, out)
	}
}

func TestClampWindow(t *testing.T) {
	for _, c := range []struct{ w, h uint32 }{{0, 0}, {80, 24}, {1000, 1000}, {1001, 5}, {4294967295, 4294967295}} {
		got := clampWindow(c.w, c.h)
		if got.Width > maxTermWidth || got.Height > maxTermHeight || (c.w <= maxTermWidth && got.Width != int(c.w)) || (c.h <= maxTermHeight && got.Height != int(c.h)) {
			t.Errorf("clampWindow(%d, %d) = %+v", c.w, c.h, got)
		}
	}
}

// Item 6: env requests are bounded in number: the first MaxEnv are kept,
// the rest refused, and the command still runs.
func TestHostileEnvBounded(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  max_env: 8\n"})
	s := newSession(t, tg.dialAs(t, "alice+t1", tg.alice))
	accepted := 0
	for i := range 20 {
		ok, err := s.SendRequest("env", true, envReq(fmt.Sprintf("V%d", i), "x"))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			accepted++
		}
	}
	if accepted != 8 {
		t.Errorf("%d of 20 env requests accepted; want max_env = 8", accepted)
	}
	// Too big for max_request_bytes (16 KiB by default): refused.
	if ok, err := s.SendRequest("env", true, envReq("BIG", strings.Repeat("x", 20<<10))); err != nil || ok {
		t.Errorf("a 20 KiB env request: %v %v; want refused", ok, err)
	}
	out, err := s.Output("echo ran")
	if err != nil || string(out) != "ran\n" {
		t.Fatalf("command after refused env requests: %q %v", out, err)
	}
}

// Item 6: 10,000 env requests before exec. The gate keeps a bounded
// number, closes the session with a message once the requests before a
// command pass their limit, and stays up; its heap stays flat. The old
// gate kept every one (about 80 MB here, gigabytes in the issue).
func TestHostileEnvFlood(t *testing.T) {
	tg := startCheckedGate(t)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	c := tg.dialAs(t, "alice+t1", tg.alice)
	s := newSession(t, c)
	stderr, err := s.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 8<<10)
	sent := 0
	within(t, 2*hostileBound, "sending 10,000 env requests", func() {
		for i := range 10000 {
			if _, err := s.SendRequest("env", false, envReq(fmt.Sprintf("K%d", i), value)); err != nil {
				return // the gate closed the session
			}
			sent++
		}
	})
	msg := readUntil(t, stderr, "session closed", "the gate's refusal")
	if !strings.Contains(msg, fmt.Sprintf("more than %d requests before a command", 256)) {
		t.Errorf("refusal %q does not say why", msg)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
		t.Errorf("heap grew by %d MiB over %d env requests of 8 KiB; want it bounded", grew>>20, sent)
	}
	c.Close()
	if out, _, st := tg.run(t, "alice", tg.alice, "whoami"); st != 0 || !strings.Contains(out, "user: alice") {
		t.Fatalf("the gate after an env flood: %d %q", st, out)
	}
}

// Item 7: window changes before the command, while nothing reads them,
// must not block the request loop. The old one blocked on the second
// change and never saw the exec.
func TestHostileWindowChangesBeforeExec(t *testing.T) {
	tg := startCheckedGate(t)
	c := tg.dialAs(t, "alice", tg.alice)
	s := newSession(t, c)
	if ok, err := s.SendRequest("pty-req", true, ptyReq("xterm", 80, 24)); err != nil || !ok {
		t.Fatalf("pty-req: %v %v", ok, err)
	}
	for i := range 200 {
		if _, err := s.SendRequest("window-change", false, winChange(uint32(81+i), 25)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		out []byte
		err error
	)
	within(t, hostileBound, "whoami after 200 window changes", func() { out, err = s.Output("whoami") })
	if err != nil || !strings.Contains(string(out), "user: alice") {
		t.Fatalf("whoami after window changes: %q %v", out, err)
	}
}

// Item 7: a flood of window changes during a command on a target, with a
// terminal: coalesced, the command ends normally, nothing is left
// running.
func TestHostileWindowChangeFlood(t *testing.T) {
	tg := startCheckedGate(t)
	_, s := tg.terminalSession(t)
	stdin, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("echo ready; read x; echo got-$x"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "ready", "the command's start")
	within(t, 2*hostileBound, "10,000 window changes", func() {
		for i := range 10000 {
			if _, err := s.SendRequest("window-change", false, winChange(uint32(40+i%500), uint32(10+i%300))); err != nil {
				t.Errorf("window change %d: %v", i, err)
				return
			}
		}
	})
	fmt.Fprintf(stdin, "x\r")
	readUntil(t, out, "got-x", "the command's end after the flood")
	go io.Copy(io.Discard, out)
	if st := exitOf(t, s, "the command after a window-change flood"); st != 0 {
		t.Errorf("exit %d after a window-change flood; want 0", st)
	}
}

// floodSignals sends bogus signals on s until stop is closed or the
// session is gone.
func floodSignals(s *gossh.Session, stop <-chan struct{}) (sent int) {
	for {
		select {
		case <-stop:
			return sent
		default:
		}
		if _, err := s.SendRequest("signal", false, gossh.Marshal(struct{ Sig string }{"NOPE"})); err != nil {
			return sent
		}
		sent++
	}
}

// endUnderSignalFlood starts cmd on s (a command that prints ready, reads
// a line and prints done) and lets it end while floodSignals runs; it
// returns the exit status. what names the command in a failure.
func endUnderSignalFlood(t *testing.T, s *gossh.Session, cmd, what string) int {
	t.Helper()
	stdin, _ := s.StdinPipe()
	out, _ := s.StdoutPipe()
	if err := s.Start(cmd); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "ready", what+"'s start")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { floodSignals(s, stop) })
	defer func() {
		close(stop)
		wg.Wait()
	}()
	time.Sleep(20 * time.Millisecond) // flooding when the command ends is the point
	fmt.Fprintln(stdin, "x")
	readUntil(t, out, "done", what+"'s end")
	return exitOf(t, s, what+" ending under a signal flood")
}

// Item 7: a flood of bogus signals while a command ends. The old gate
// deadlocked: its deferred Signals(nil) waited for a mutex held by the
// request loop, blocked sending a signal nobody read.
func TestHostileSignalFlood(t *testing.T) {
	tg := startCheckedGate(t)
	for round := range 3 {
		c := tg.dialAs(t, "alice+t1", tg.alice)
		s := newSession(t, c)
		if st := endUnderSignalFlood(t, s, "echo ready; read x; echo done", fmt.Sprintf("round %d: the command", round)); st != 0 {
			t.Errorf("round %d: exit %d; want 0", round, st)
		}
		c.Close()
	}
}

// Item 7, released path: the same flood on 'mpa requests run'. The old
// gate left the request Executing forever, with no exit status, although
// its command had run.
func TestHostileSignalFloodOnRelease(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	apv := advEnableMPA(t, tg)
	tg.checkLeaks(t)
	r := advCreate(t, tg, "alice", "kill -0 $$; echo ready; read x; echo done", time.Hour)
	apv.approve(t, r.ID)

	c := tg.dialAs(t, "alice", tg.alice)
	s := newSession(t, c)
	if st := endUnderSignalFlood(t, s, "mpa requests run "+r.ID, "the released command"); st != 0 {
		t.Errorf("exit %d; want 0", st)
	}
	got := requestIn(t, tg, r.ID, mpa.StatusCompleted)
	if got.Execution == nil || got.Execution.ExitStatus != 0 {
		t.Errorf("execution record %+v; want exit 0", got.Execution)
	}
}

// requestIn waits until request id has status want, within the bound.
func requestIn(t *testing.T, tg *testGate, id string, want mpa.Status) mpa.Request {
	t.Helper()
	deadline := time.Now().Add(hostileBound)
	for {
		r, err := tg.mpa.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s after %v; want %s", id, r.Status, hostileBound, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Item 2: the target connection is cut while a released command runs.
// The request is Interrupted (outcome unknown), not Completed with an
// exit status, and the requester is told so with exitcode.Interrupted. The old
// gate recorded Completed, exit 69, while the command went on.
func TestHostileLostTargetDuringRelease(t *testing.T) {
	tg := startGateOpts(t, mustPolicy(t, advPolicy), gateTestOptions{proxy: true})
	apv := advEnableMPA(t, tg)
	r := advCreate(t, tg, "alice", "kill -0 $$; echo started; read x", time.Hour)
	apv.approve(t, r.ID)

	s := newSession(t, tg.dialAs(t, "alice", tg.alice))
	out, _ := s.StdoutPipe()
	stdin, _ := s.StdinPipe() // kept open: the command waits on it
	defer stdin.Close()
	var stderr bytes.Buffer
	s.Stderr = &stderr
	if err := s.Start("mpa requests run " + r.ID); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "started", "the released command's start")
	tg.proxy.cut()
	go io.Copy(io.Discard, out)
	if st := exitOf(t, s, "the release after its target connection was cut"); st != exitcode.Interrupted {
		t.Errorf("exit %d; want exitcode.Interrupted (%d)", st, exitcode.Interrupted)
	}
	if !strings.Contains(stderr.String(), "lost the connection to target t1") || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("the requester was told %q; want the lost connection and the interrupted record", stderr.String())
	}
	got := requestIn(t, tg, r.ID, mpa.StatusInterrupted)
	if got.Execution == nil || !strings.Contains(got.Execution.Error, "connection to the target lost") {
		t.Errorf("execution record %+v; want the lost connection named", got.Execution)
	}
	// The gate still reaches the target afterwards, on a new connection.
	if out, stderr, st := tg.run(t, "alice", tg.alice, "whoami"); st != 0 {
		t.Fatalf("gate after a lost target: %d %q %q", st, out, stderr)
	}
}

// cutProxy forwards TCP to a target until cut closes every connection it
// carries.
type cutProxy struct {
	addr string
	mu   sync.Mutex
	open []net.Conn
}

func startCutProxy(t testing.TB, to string) *cutProxy {
	t.Helper()
	p := &cutProxy{}
	t.Cleanup(p.cut) // after the listener closes: nothing is added then
	p.addr = startProxy(t, to, func(in, out net.Conn) {
		p.mu.Lock()
		p.open = append(p.open, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	})
	return p
}

// startProxy listens on loopback until the test ends and returns its
// address; for each connection it accepts it dials to and hands both
// connections to carry, which forwards between them and closes them.
func startProxy(t testing.TB, to string, carry func(in, out net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			carry(in, out)
		}
	}()
	return l.Addr().String()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

// Sessions per client connection are bounded, as sshd's MaxSessions.
func TestHostileSessionsPerConnection(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  max_sessions_per_connection: 3\n"})
	c := tg.dialAs(t, "alice+t1", tg.alice)
	var held []*gossh.Session
	for i := range 3 {
		s, err := c.NewSession()
		if err != nil {
			t.Fatalf("session %d of 3: %v", i+1, err)
		}
		held = append(held, s)
	}
	_, err := c.NewSession()
	var refused *gossh.OpenChannelError
	if !errors.As(err, &refused) || refused.Reason != gossh.ResourceShortage {
		t.Fatalf("fourth session on one connection: %v; want refused (resource shortage)", err)
	}
	held[0].Close()
	// The slot comes back once the gate has seen the close.
	deadline := time.Now().Add(hostileBound)
	for {
		s, err := c.NewSession()
		if err == nil {
			s.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Item 8: an idle connection that never authenticates is closed after the
// login grace time. The old gate kept it forever.
func TestHostileLoginGraceTime(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  login_grace_time: 1s\n"})
	nc, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Read the banner, then say nothing.
	br := bufio.NewReader(nc)
	within(t, hostileBound, "the idle connection's close", func() {
		io.Copy(io.Discard, br)
	})
	if got := refusedCount(tg, (closedLoginGrace)); got != 1 {
		t.Errorf("login_grace_time closes counted %v; want 1", got)
	}
	// A real login is not cut by the grace time once it has a channel.
	c := tg.dialAs(t, "alice", tg.alice)
	s := newSession(t, c)
	defer s.Close()
	time.Sleep(1500 * time.Millisecond)
	if out, err := s.Output("whoami"); err != nil || !strings.Contains(string(out), "user: alice") {
		t.Fatalf("an authenticated session past the grace time: %q %v", out, err)
	}
}

// Item 8: 2,000 idle TCP connections from one address: the gate holds at
// most max_unauthenticated_per_source of them (evicting silent ones) and a
// real login from the same address still succeeds. The overall limit
// refuses connections past max_connections, counted in the metric.
func TestHostileIdleConnectionFlood(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  max_unauthenticated_per_source: 16\n"})
	tg.checkLeaks(t)
	const n = 2000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	within(t, hostileBound, "a login beside 2,000 idle connections", func() {
		if out, _, st := tg.run(t, "alice", tg.alice, "whoami"); st != 0 || !strings.Contains(out, "user: alice") {
			t.Errorf("login beside idle connections: %d %q", st, out)
		}
	})
	// The gate closed all but a handful of the idle ones.
	deadline := time.Now().Add(hostileBound)
	for tg.gate.conns.Open() > 16+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the gate holds %d connections after 2,000 idle ones; want at most 16 (+1)", tg.gate.conns.Open())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ev := refusedCount(tg, (evictedSilent)); ev < n-16-1 {
		t.Errorf("evictions counted %v; want at least %d", ev, n-16-1)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
}

// Item 8: max_connections refuses what is past it, and a silent
// connection is evicted before a talking one is refused.
func TestHostileMaxConnections(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  max_connections: 2\n"})
	// Two authenticated connections, each with a session open.
	for range 2 {
		s := newSession(t, tg.dialAs(t, "alice", tg.alice))
		defer s.Close()
	}
	_, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.alice)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey), Timeout: hostileBound,
	})
	if err == nil {
		t.Fatal("a third connection with max_connections 2 was served")
	}
	if got := refusedCount(tg, (refusedFull)); got < 1 {
		t.Errorf("max_connections refusals counted %v; want 1", got)
	}
}

// The metrics register on a registry without clashing.
func TestConnLimiterMetrics(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{})
	reg := prometheus.NewRegistry()
	if err := tg.gate.conns.register(reg); err != nil {
		t.Fatal(err)
	}
	tg.run(t, "alice", tg.alice, "whoami")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	b, _ := json.Marshal(names)
	if !strings.Contains(string(b), `"keyturn_client_connections"`) {
		t.Errorf("metrics %s lack keyturn_client_connections", b)
	}
}

// refusedCount reads the refused-connections counter for reason.
func refusedCount(tg *testGate, reason string) float64 {
	var m dto.Metric
	if err := tg.gate.conns.refused.WithLabelValues(reason).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// A client that disconnects while its command waits forever on a
// terminal takes the target session with it, as with sshd; the gate's
// goroutines return to baseline. Before, the gate held the target session
// and its goroutines until the command ended by itself.
func TestHostileClientGoneEndsTargetSession(t *testing.T) {
	tg := startCheckedGate(t)
	c, s := tg.terminalSession(t)
	out, _ := s.StdoutPipe()
	stdin, _ := s.StdinPipe()
	defer stdin.Close()
	if err := s.Start("echo ready; cat"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "ready", "the command's start")
	c.Close() // checkLeaks then finds the target session gone
}

// One key cannot take every connection: past max_connections_per_user a
// user's new connection is refused at its first channel and closed, and
// other users still get in.
func TestHostileConnectionsPerUser(t *testing.T) {
	tg := startGateOpts(t, allowAll, gateTestOptions{extraConfig: "limits:\n  max_connections_per_user: 2\n"})
	var held []*gossh.Client
	for range 2 {
		c := tg.dialAs(t, "alice", tg.alice)
		if _, err := c.NewSession(); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third := tg.dialAs(t, "alice+t1", tg.alice) // the target does not matter
	_, err := third.NewSession()
	var refused *gossh.OpenChannelError
	if !errors.As(err, &refused) || !strings.Contains(refused.Message, "already has 2 connections") {
		t.Fatalf("alice's third connection: %v; want refused naming the limit", err)
	}
	within(t, hostileBound, "the refused connection's close", func() { third.Wait() })
	if got := refusedCount(tg, refusedUser); got != 1 {
		t.Errorf("per-user refusals counted %v; want 1", got)
	}
	if out, _, st := tg.run(t, "carol", tg.carol, "whoami"); st != 0 || !strings.Contains(out, "user: carol") {
		t.Fatalf("another user beside alice's connections: %d %q", st, out)
	}
	held[0].Close()
	deadline := time.Now().Add(hostileBound)
	for {
		c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.alice)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey)})
		if err == nil {
			_, err = c.NewSession()
			c.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice cannot connect after closing one of her connections: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
