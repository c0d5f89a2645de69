package shellfast

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// waitingSession starts `echo ready; read x; echo "survived $x"` through
// the gate on its own client connection (the gate carries it on its pooled
// connection to the target) and returns a function that answers its read
// and reports what it printed in the end.
func (g *sshdGate) waitingSession(t *testing.T) func() string {
	t.Helper()
	c := g.dial(t)
	t.Cleanup(func() { c.Close() })
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(`echo ready; read x; echo "survived $x"`); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	ready := make(chan string, 1)
	go func() { l, _ := r.ReadString('\n'); ready <- l }()
	select {
	case l := <-ready:
		if l != "ready\n" {
			t.Fatalf("waiting session printed %q; want ready", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("waiting session did not start within a minute")
	}
	return func() string {
		in.Write([]byte("yes\n"))
		in.Close()
		rest := make(chan string, 1)
		go func() { l, _ := r.ReadString('\n'); rest <- l }()
		select {
		case l := <-rest:
			return l
		case <-time.After(time.Minute):
			t.Fatal("waiting session gave no answer within a minute")
			return ""
		}
	}
}

// A line with a NUL byte, on a connection whose probe said plain bash:
// the gate used to send it as it is, and OpenSSH's sshd ends the whole
// connection on an exec request with a NUL (sshpkt_get_cstring), so one
// user's line ended every other session on the pooled connection. On the
// wrapped path (before the probe) the encoded line was cut at the NUL and
// its first part ran. Now the gate refuses it before anything is sent.
func TestShellFastNULLine(t *testing.T) {
	g := startSSHDGate(t, "", "", "")
	out, errOut, status := g.run(t, "echo HELD\x00x")
	if strings.Contains(out, "HELD") {
		t.Errorf("wrapped: the line cut at its NUL ran: %q", out)
	}
	if status == 0 {
		t.Errorf("wrapped: a line with a NUL ended with status 0 (stderr %q)", errOut)
	}
	// A session's end starts the probe.
	if !g.wrapped(t) {
		t.Fatal("first session not wrapped")
	}
	if !g.waitProbe(t) {
		t.Fatalf("probe said no for a plain bash login\n%s", g.logs)
	}
	if g.wrapped(t) {
		t.Fatal("after the probe's yes a line still went wrapped: the test needs the plain path")
	}
	answer := g.waitingSession(t)
	if out, errOut, status := g.run(t, "echo HELD\x00x"); strings.Contains(out, "HELD") || status == 0 {
		t.Errorf("plain: a line with a NUL printed %q, status %d (stderr %q)", out, status, errOut)
	}
	if got := answer(); got != "survived yes\n" {
		t.Errorf("another session on the pooled connection printed %q after the NUL line; want it to survive\ngate log:\n%s", got, g.logs)
	}
}

// A line of 60 KiB that is mostly bytes the wrapper encodes (5 bytes each)
// makes an exec request over the 256 KiB an SSH packet may carry: it broke
// the pooled connection, ending every other session on it. Now the gate
// refuses it, and the other session lives on.
func TestShellFastOversizedLine(t *testing.T) {
	g := startSSHDGate(t, "", "", "    shell_wrapper: always\n")
	answer := g.waitingSession(t)
	line := "#" + strings.Repeat("!", 60<<10)
	out, errOut, status := g.run(t, line)
	if status == 0 {
		t.Errorf("a %d-byte line of encoded bytes ended with status 0 (stdout %q)", len(line), out)
	}
	if !strings.Contains(errOut, "too long") {
		t.Errorf("stderr %q; want the gate's refusal", errOut)
	}
	if got := answer(); got != "survived yes\n" {
		t.Errorf("another session on the pooled connection printed %q after the long line; want it to survive\ngate log:\n%s", got, g.logs)
	}
}
