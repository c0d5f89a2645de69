//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
)

// grantSpec is what the test gate sends for one run of the guard.
type grantSpec struct {
	line    string
	actions []string
	// edit changes the grant before it is signed (expired, another
	// target...).
	edit func(*grant.Grant)
	// signer signs it; gateSigner if nil.
	signer ssh.Signer
	// token, if set, is sent as is instead of a grant for the challenge:
	// a replay or a forgery.
	token string
}

// sign makes the token spec asks for, answering challenge.
func (spec grantSpec) sign(t testing.TB, challenge string) string {
	t.Helper()
	if spec.token != "" {
		return spec.token
	}
	g, err := grant.New(testTarget, spec.line, spec.actions, policyHash, challenge, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if spec.edit != nil {
		spec.edit(g)
	}
	s := spec.signer
	if s == nil {
		s = gateSigner
	}
	tok, err := grant.Sign(g, s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// session is a started guard whose handshake the test played as the gate.
type session struct {
	cmd *exec.Cmd
	// out is the guard's stdout after its challenge line (stderr too
	// when started combined); pre is what came before the challenge.
	out *bufio.Reader
	pre string
	// in is the command's stdin, after the grant line.
	in io.WriteCloser
	// challenge and token are those of this run; challenge is "" if the
	// guard sent none (it refused before the handshake).
	challenge, token string
}

// startSession starts c (the guard, or something that runs it with the
// same stdin and stdout) and plays the gate: it reads the challenge line
// from c's stdout and writes the grant line spec asks for on its stdin.
// With combined, stderr goes to out as well; otherwise c.Stderr is left as
// the caller set it.
func startSession(t testing.TB, c *exec.Cmd, combined bool, spec grantSpec) *session {
	t.Helper()
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout = w
	if combined {
		c.Stderr = w
	}
	c.WaitDelay = 10 * time.Second
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s := &session{cmd: c, out: bufio.NewReader(r), in: in}
	t.Cleanup(func() { r.Close() })
	// Lines before the challenge (a wrapper's) are kept, up to a bound.
	var pre strings.Builder
	for i := 0; i < 64; i++ {
		line, err := s.out.ReadString('\n')
		if ch, perr := grant.ParseChallengeLine(line); perr == nil {
			s.challenge = ch
			break
		}
		pre.WriteString(line)
		if err != nil {
			break
		}
	}
	s.pre = pre.String()
	if s.challenge == "" {
		return s
	}
	s.token = spec.sign(t, s.challenge)
	if err := grant.WriteLine(in, s.token); err != nil {
		t.Fatalf("write grant line: %v", err)
	}
	return s
}

// finish closes stdin, reads the rest of the output and waits.
func (s *session) finish(t testing.TB) (out string, code int) {
	t.Helper()
	s.in.Close()
	rest, _ := io.ReadAll(s.out)
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", s.cmd.Path, err)
	}
	return s.pre + string(rest), code
}

// runSpec runs the guard as sshd starts it for the account (`-c
// keyturn-guard-v2`, HOME set to home) and plays the gate with spec.
func runSpec(t testing.TB, home string, spec grantSpec) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, home, "-c", guard.Command)
	var errb bytes.Buffer
	c.Stderr = &errb
	s := startSession(t, c, false, spec)
	out, code := s.finish(t)
	if ctx.Err() != nil {
		t.Fatalf("guard for %q did not finish within %v; stderr: %s", spec.line, runDeadline, errb.String())
	}
	return outcome{code, out, errb.String()}
}

// runGrant runs line under the guard with a grant for actions.
func runGrant(t testing.TB, home, line string, actions ...string) outcome {
	t.Helper()
	return runSpec(t, home, grantSpec{line: line, actions: actions})
}
