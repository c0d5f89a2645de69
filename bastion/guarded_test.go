package bastion

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
)

// TestGuardTail: the gate keeps a bounded tail of a guarded command's
// stderr and believes a block only with the guard's status and report.
func TestGuardTail(t *testing.T) {
	var tail tailWriter
	tail.Write(bytes.Repeat([]byte("x"), 3*maxGuardTail))
	r := guard.Report{Actions: []string{"kill_process"}, Observed: "/usr/bin/kill 1, started by bash"}
	var b bytes.Buffer
	r.Write(&b)
	tail.Write(b.Bytes())
	if len(tail.buf) > maxGuardTail {
		t.Fatalf("tail holds %d bytes", len(tail.buf))
	}
	got := tail.report(guard.ExitBlocked)
	if got == nil || got.Observed != r.Observed {
		t.Fatalf("report %+v", got)
	}
	if tail.report(0) != nil || tail.report(1) != nil {
		t.Fatal("a report without the guard's status was believed")
	}
	var plain tailWriter
	plain.Write([]byte("exit 121 by itself\n"))
	if plain.report(guard.ExitBlocked) != nil {
		t.Fatal("status 121 without a report was taken as a block")
	}
}

func TestObservedDecision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.yaml")
	os.WriteFile(path, []byte(`version: 1
defaults:
  required_approvals: 2
actions:
  - name: kill_process
    service: process
    required_approvals: 3
    reason: required
    match:
      - command: kill
`), 0o600)
	pol, err := LoadPolicy(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{policy: pol}
	d := g.observedDecision(&guard.Report{Actions: []string{"kill_process", "gone_action"}, Observed: "kill(1, SIGTERM) by bash"})
	if d.Quorum != 3 || !d.ReasonRequired || len(d.Actions) != 2 || d.Actions[0].Service != "process" {
		t.Fatalf("decision %+v", d)
	}
	if !strings.Contains(d.Message(), "observed on the target by keyturn-guard: kill(1, SIGTERM) by bash") {
		t.Fatalf("message %q", d.Message())
	}
}

// TestGuardHandshake: the gate answers exactly the challenge the guard
// wrote with a grant bound to it, and the command's output after the
// challenge line reaches the client intact; anything but a challenge, a
// line over the bound or no line at all grants nothing.
func TestGuardHandshake(t *testing.T) {
	key := testSigner(t)
	g := &Gate{hostKey: key}
	digest := grant.PolicyDigest([]byte("version: 1\n"))
	hs := &guardHandshake{gate: g, target: "web-1", line: "kill 4242", granted: []string{"kill_process"}, digest: digest}
	challenge, err := grant.NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	out := strings.NewReader(strings.TrimSuffix(grant.ChallengeLine(challenge), "\n") + "\r\nthe command's output\n")
	var in bytes.Buffer
	rest, err := hs.run(out, &in, func() {})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := grant.ReadLine(&in)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := grant.Verify(tok, key.PublicKey(), "web-1", digest, challenge, time.Now())
	if err != nil || gr.Line != "kill 4242" || !gr.Allows("kill_process") {
		t.Fatalf("grant %+v: %v", gr, err)
	}
	if in.Len() != 0 {
		t.Fatalf("%d bytes after the grant line", in.Len())
	}
	if b, _ := io.ReadAll(rest); string(b) != "the command's output\n" {
		t.Fatalf("output after the challenge: %q", b)
	}
	other, _ := grant.NewChallenge()
	if _, err := grant.Verify(tok, key.PublicKey(), "web-1", digest, other, time.Now()); !errors.Is(err, grant.ErrChallenge) {
		t.Fatalf("grant verified under another challenge: %v", err)
	}

	for name, first := range map[string]string{
		"a shell's answer": "bash: line 1: keyturn-guard-v2: command not found\n",
		"no line":          "",
		"unended":          grant.ChallengeLine(challenge)[:40],
		"endless":          strings.Repeat("k", 1<<20),
		"a bad challenge":  "keyturn-guard-challenge " + strings.Repeat("Z", 64) + "\n",
	} {
		var in bytes.Buffer
		r := &countReader{r: strings.NewReader(first)}
		if _, err := hs.run(r, &in, func() {}); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
		if in.Len() != 0 {
			t.Errorf("%s: sent %q", name, in.String())
		}
		if r.n > 8192 {
			t.Errorf("%s: read %d bytes", name, r.n)
		}
	}

	// A target that never writes: the session is closed after the wait.
	pr, pw := io.Pipe()
	slow := &guardHandshake{gate: g, target: "web-1", line: "true", digest: digest, challengeWait: 50 * time.Millisecond}
	closed := false
	if _, err := slow.run(pr, io.Discard, func() { closed = true; pw.Close() }); err == nil || !closed || !strings.Contains(err.Error(), "within") {
		t.Fatalf("silent target: %v (closed %v)", err, closed)
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
