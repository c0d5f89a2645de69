package bastion

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/policy"
)

// The request path is in the order the README draws: the terminal is
// read once first, recovery covers everything after it, and the identity
// and the target are settled before anything counts or logs a session.
func TestRequestPathOrder(t *testing.T) {
	g := &Gate{cfg: &config.Config{}, log: testLogger(t)}
	want := []string{"track", "snapshot", "recover", "authenticate", "authorize", "bound", "count", "log"}
	var got []string
	for _, st := range g.requestPath(nil, func(SessionKind) {}) {
		got = append(got, st.name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("request path %v; want %v", got, want)
	}
	// Without metrics there is nothing to count, and the rest keeps its
	// order.
	got = got[:0]
	for _, st := range g.requestPath(nil, nil) {
		got = append(got, st.name)
	}
	if !slices.Equal(got, slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "count" })) {
		t.Fatalf("request path without a counter %v", got)
	}
}

// sessionCounter records what the gate counts.
type sessionCounter struct {
	mu    sync.Mutex
	kinds []SessionKind
}

func (c *sessionCounter) count(k SessionKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kinds = append(c.kinds, k)
}

func (c *sessionCounter) seen() []SessionKind {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.kinds)
}

// A target the user may not reach is refused by authorize, before the
// session is counted or logged as a routed session: carol has no admin
// role, and no one may reach a target the config does not have. Before
// authorize was its own middleware, both were counted as target sessions
// and logged as started.
func TestUnauthorizedTargetRefusedBeforeCountAndLog(t *testing.T) {
	var counted sessionCounter
	var logs mpatest.Buffer // the gate's session goroutines log into it while the test reads
	tg := startGateOpts(t, allowAll, gateTestOptions{countSession: counted.count, logs: &logs})
	for _, c := range []struct {
		login string
		who   string
	}{{"carol+t1", "carol"}, {"alice+nosuch", "alice"}} {
		key := tg.alice
		if c.who == "carol" {
			key = tg.carol
		}
		_, errOut, code := tg.run(t, c.login, key, "echo never")
		if code != exitcode.Refused || !strings.Contains(errOut, "may not reach target") {
			t.Fatalf("%s: exit %d, %q; want %d and the refusal", c.login, code, errOut, exitcode.Refused)
		}
		if strings.Contains(logs.String(), `msg="session start" login=`+c.login) {
			t.Errorf("%s: refused target logged as a started session:\n%s", c.login, logs.String())
		}
	}
	if k := counted.seen(); len(k) != 0 {
		t.Errorf("refused sessions counted: %v; want none", k)
	}
	if !strings.Contains(logs.String(), `msg="target refused"`) {
		t.Errorf("no refusal logged:\n%s", logs.String())
	}
	// The same gate counts and logs a session that is let through, so
	// the checks above can fail.
	if out, _, code := tg.run(t, "alice+t1", tg.alice, "echo hi"); code != 0 || out != "hi\n" {
		t.Fatalf("alice+t1: exit %d, %q", code, out)
	}
	if k := counted.seen(); !slices.Equal(k, []SessionKind{SessionTarget}) {
		t.Errorf("counted %v; want one target session", k)
	}
	if !strings.Contains(logs.String(), `msg="session start" login=alice+t1`) {
		t.Errorf("alice+t1 not logged as started:\n%s", logs.String())
	}
}

// panicDecider panics on every line: a bug in a handler.
type panicDecider struct{}

func (panicDecider) Decide(policy.Input) policy.Decision { panic("decider bug") }

// A panic in a handler ends that session with the internal-error status
// and nothing else: the session was counted once, its end is still
// logged, and the gate serves the next session. The counter sits inside
// the recovery, so a counter that panics fails its session, not the
// gate (before, outside recovery, it took the process down).
func TestPanicInsideRequestPath(t *testing.T) {
	t.Run("handler", func(t *testing.T) {
		var counted sessionCounter
		var logs mpatest.Buffer // the gate's session goroutines log into it while the test reads
		tg := startGateOpts(t, panicDecider{}, gateTestOptions{countSession: counted.count, logs: &logs})
		_, errOut, code := tg.run(t, "alice+t1", tg.alice, "echo hi")
		if code != exitcode.Internal || !strings.Contains(errOut, "internal error") {
			t.Fatalf("panicking session: exit %d, %q; want %d", code, errOut, exitcode.Internal)
		}
		if k := counted.seen(); !slices.Equal(k, []SessionKind{SessionTarget}) {
			t.Errorf("counted %v; want the panicked session once", k)
		}
		l := logs.String()
		if !strings.Contains(l, `msg="session panicked"`) || !strings.Contains(l, `msg="session end" login=alice+t1`) {
			t.Errorf("want the panic and the session's end logged:\n%s", l)
		}
		if out, _, code := tg.run(t, "alice", tg.alice, "whoami"); code != 0 || !strings.Contains(out, "user: alice") {
			t.Fatalf("after the panic: whoami exit %d, %q", code, out)
		}
		if k := counted.seen(); !slices.Equal(k, []SessionKind{SessionTarget, SessionGate}) {
			t.Errorf("counted %v; want the target session, then the gate session", k)
		}
	})
	t.Run("counter", func(t *testing.T) {
		tg := startGateOpts(t, allowAll, gateTestOptions{countSession: func(SessionKind) { panic("counter bug") }})
		_, errOut, code := tg.run(t, "alice+t1", tg.alice, "echo hi")
		if code != exitcode.Internal || !strings.Contains(errOut, "internal error") {
			t.Fatalf("session whose counter panics: exit %d, %q; want %d", code, errOut, exitcode.Internal)
		}
		_, _, code = tg.run(t, "alice+t1", tg.alice, "echo again")
		if code != exitcode.Internal {
			t.Fatalf("second session: exit %d; want %d (the gate still serves)", code, exitcode.Internal)
		}
	})
}

// bareSession is a session that did not come through authenticate.
type bareSession struct {
	ssh.Session
	stderr bytes.Buffer
	exit   int
	exited bool
}

func (b *bareSession) User() string                            { return "alice" }
func (b *bareSession) RemoteAddr() net.Addr                    { return &net.TCPAddr{IP: net.IPv6loopback} }
func (b *bareSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return ssh.Pty{}, nil, false }
func (b *bareSession) Stderr() io.ReadWriter                   { return &b.stderr }
func (b *bareSession) Exit(code int) error                     { b.exit, b.exited = code, true; return nil }
func (b *bareSession) RawCommand() string                      { return "whoami" }

// The identity comes from authenticate alone: a session that reaches
// authorize or route without it (a chain put together in the wrong
// order) is refused, not served as the zero identity (user "", the gate's
// own commands).
func TestNoIdentityIsRefused(t *testing.T) {
	g := &Gate{cfg: &config.Config{}, log: testLogger(t)}
	for name, h := range map[string]ssh.Handler{
		"route":     g.route,
		"authorize": g.authorize(func(ssh.Session) { t.Error("authorize passed a session without identity") }),
		"count": countSessions(func(SessionKind) { t.Error("counted a session without identity") })(func(s ssh.Session) {
			refuseUnidentified(g.log, s)
		}),
	} {
		s := &bareSession{}
		h(s)
		if !s.exited || s.exit != exitcode.Refused || !strings.Contains(s.stderr.String(), "permission denied") {
			t.Errorf("%s: exited %v with %d, %q; want %d and permission denied", name, s.exited, s.exit, s.stderr.String(), exitcode.Refused)
		}
	}
}
