package bastion

import (
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/policy"
)

// A line with a NUL byte is refused before it is decided. No shell can
// receive one (an argument is a C string; sshd ends a connection whose
// exec request holds one), and the policy reads the line with the NUL
// left out: to it `echo HELD<NUL>x` is `echo HELDx`. The encoded wrapper
// (printf %b into a variable, then eval) cut the line at the NUL, so the
// target ran `echo HELD`, a command the policy never read (with `service
// auditd stop<NUL>x` or `auditctl -e 0<NUL>x`, a held action without its
// quorum).
func TestTargetLineWithNULRefused(t *testing.T) {
	const pol = "version: 1\nactions:\n  - name: held_echo\n    service: test\n    match: [{command: echo, args: [HELD]}]\n"
	tg := startTestGate(t, pol)
	const line = "echo HELD\x00x"
	d := mustPolicy(t, pol).Decide(policy.Input{Command: line, Target: "t1"})
	t.Logf("the policy reads %q as %v", line, d.Verdict)
	stdout, stderr, status := tg.run(t, "alice+t1", tg.alice, line)
	if strings.Contains(stdout, "HELD") {
		t.Fatalf("the target ran the line cut at its NUL: stdout %q (status %d)", stdout, status)
	}
	if status != exitcode.Usage || !strings.Contains(stderr, "NUL") {
		t.Errorf("a line with a NUL byte: status %d, stderr %q; want %d and a message naming the NUL", status, stderr, exitcode.Usage)
	}
	// The gate stays usable, and a line without one runs.
	if out, _, st := tg.run(t, "alice+t1", tg.alice, "echo fine"); st != 0 || out != "fine\n" {
		t.Errorf("echo fine after the refusal: %q, status %d", out, st)
	}
}

// Whatever a line is, what the gate sends for it is not cut or mangled on
// the way: bashCommand never yields a command that holds a NUL byte or is
// longer than one SSH packet can carry (targetCommandLimit), and
// unguardedLineError refuses every line bashCommand cannot carry whole.
func TestTargetLineBounds(t *testing.T) {
	for _, c := range []struct {
		name, line string
		ok         bool
	}{
		{"plain", "echo hi", true},
		{"nul", "echo HELD\x00x", false},
		{"nul only", "\x00", false},
		{"long plain", "#" + strings.Repeat("a", 64<<10), true},
		// 5 bytes each once encoded: over one packet.
		{"long encoded", "#" + strings.Repeat("!", 60<<10), false},
		{"long quotes", strings.Repeat("'", 64<<10), false},
		{"encoded at the bound", "#" + strings.Repeat("!", (targetCommandLimit-len(bashCommand("", "#!")))/5), true},
	} {
		err := unguardedLineError("", c.line)
		if (err == nil) != c.ok {
			t.Errorf("%s: unguardedLineError = %v; want ok %v", c.name, err, c.ok)
		}
		if err == nil {
			if cmd := bashCommand("", c.line); len(cmd) > targetCommandLimit || strings.IndexByte(cmd, 0) >= 0 {
				t.Errorf("%s: accepted, but bashCommand gives %d bytes (limit %d), NUL %v", c.name, len(cmd), targetCommandLimit, strings.IndexByte(cmd, 0) >= 0)
			}
		}
	}
}
