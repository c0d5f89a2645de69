package tui

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// syncBuffer collects a session's output for polling by the test.
type syncBuffer struct{ mpatest.Buffer }

func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveTUI runs an SSH server on 127.0.0.1:0 whose every session is the
// console for bob, and returns its address and the results of Serve.
func serveTUI(t *testing.T, f *fixture) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 4)
	srv := &ssh.Server{Handler: func(s ssh.Session) {
		err := Serve(s, f.svc, Viewer{Name: s.User(), Approver: true}, Options{Now: f.clock.Now})
		results <- err
		if err != nil {
			s.Exit(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), results
}

func dial(t *testing.T, addr string) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "bob",
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), // a test server with a fresh key
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newSession dials addr and opens a session; both close with the test.
func newSession(t *testing.T, addr string) *gossh.Session {
	t.Helper()
	sess, err := dial(t, addr).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// TestServe runs the console over a real SSH session: it draws the queue
// in the client's window, follows a window change, and quits on q.
func TestServe(t *testing.T) {
	f := newFixture(t)
	f.populate()
	addr, results := serveTUI(t, f)
	sess := newSession(t, addr)
	var out syncBuffer
	sess.Stdout = &out
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Setenv("NO_COLOR", "1"); err != nil {
		t.Logf("setenv: %v", err) // the server may refuse env; not what is tested
	}
	if err := sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "3 pending")
	if err := sess.WindowChange(30, 100); err != nil {
		t.Fatal(err)
	}
	// At 100 columns the title line's right end moves out to column 100.
	out.waitFor(t, strings.Repeat(" ", 60)+"bob (approver)")
	if strings.Contains(out.String(), "\x1b[38;") {
		t.Errorf("colour sent despite NO_COLOR")
	}
	if _, err := stdin.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := mpatest.Recv(t, results, "Serve to return after q"); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	sess.Close()
}

// TestServeEndsWithSession: closing the connection stops the program.
func TestServeEndsWithSession(t *testing.T) {
	f := newFixture(t)
	f.populate()
	addr, results := serveTUI(t, f)
	c := dial(t, addr)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	sess.Stdout = &out
	if err := sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "3 pending")
	// Colours follow the client's TERM, not the test process's.
	out.waitFor(t, "\x1b[38;5;")
	c.Close()
	if err := mpatest.Recv(t, results, "Serve to end after the client left"); err != nil {
		t.Fatalf("Serve after disconnect: %v", err)
	}
}

// TestServeNeedsPTY: without ssh -t the console refuses with a message.
func TestServeNeedsPTY(t *testing.T) {
	f := newFixture(t)
	addr, results := serveTUI(t, f)
	sess := newSession(t, addr)
	var stderr syncBuffer
	sess.Stderr = &stderr
	_ = sess.Shell()
	if err := mpatest.Recv(t, results, "Serve to refuse a session without a terminal"); !errors.Is(err, ErrNoPTY) {
		t.Fatalf("Serve = %v; want ErrNoPTY", err)
	}
	stderr.waitFor(t, "ssh -t")
}
