package sshtest

import (
	"bytes"
	"errors"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// Run logs in to addr as login with key, trusting only hostKey, execs cmd
// (with a PTY if pty is set, as ssh -t asks for one) and returns its
// stdout, stderr and exit status. A failure to log in or to run the
// command at all fails the test.
func Run(t testing.TB, addr string, hostKey gossh.PublicKey, login string, key gossh.Signer, cmd string, pty bool) (stdout, stderr string, exit int) {
	t.Helper()
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)}, HostKeyCallback: gossh.FixedHostKey(hostKey),
	})
	if err != nil {
		t.Fatalf("dial gate as %s: %v", login, err)
	}
	defer c.Close()
	return RunOn(t, c, cmd, pty)
}

// RunOn is Run in a new session on a connection the caller keeps: tests
// that look at what a connection does over several sessions (the gate's
// shell probe) run them all on one.
func RunOn(t testing.TB, c *gossh.Client, cmd string, pty bool) (stdout, stderr string, exit int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if pty {
		if err := s.RequestPty("xterm", 40, 120, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	err = s.Run(cmd)
	var exitErr *gossh.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exitErr):
		return out.String(), errOut.String(), exitErr.ExitStatus()
	}
	t.Fatalf("run %q: %v", cmd, err)
	return "", "", -1
}
