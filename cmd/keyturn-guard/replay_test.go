//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
)

// TestTreeReplaysOwnGrant: a line tries to run itself (or anything) again
// with its own grant, from inside its tree, while it runs. With version 1
// the token was the guard's argv (-c TOKEN, in /proc/PID/cmdline for every
// process of the account) and single use rested on a nonce file the
// account could delete: the line below read the token, deleted the nonce
// directory and ran the guard with it again. Now the guard's argv holds
// only the fixed command, there is no nonce state to delete, and the exact
// token of the running grant, fed to a new guard inside the tree or
// outside it, answers the wrong challenge. (Against version 1, the line
// ran twice: its stolen token, replayed outside after the tree deleted its
// nonce, was accepted.)
func TestTreeReplaysOwnGrant(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	// $GUARD: the tree cannot resolve the guard's /proc/PID/exe (not
	// dumpable), so the test names the binary; an attacker knows it.
	line := `read -r go
cmdline=$(tr '\0' ' ' < /proc/$PPID/cmdline); echo "cmdline=$cmdline"
if [ -z "$NESTED" ]; then
  rm -rf "$HOME/.keyturn-guard"
  tok=${cmdline#*-c }; tok=${tok% }
  # Version 1's replay: the token from the argv, as the command.
  NESTED=1 "$GUARD" -c "$tok" </dev/null; echo "argv-replay=$?"
  # The running grant's own line, sent to a new guard.
  NESTED=1 "$GUARD" -c keyturn-guard-v2 < "$HOME/grantline" >"$HOME/nested.out" 2>&1; echo "stdin-replay=$?"
  cat "$HOME/nested.out"
  [ -e "$HOME/ran" ] && echo "a replay ran the line"
fi
touch "$HOME/ran"`
	c := guardCmd(ctx, home, "-c", guard.Command)
	c.Env = append(c.Env, "GUARD="+guardBin)
	s := startSession(t, c, true, grantSpec{line: line})
	if s.challenge == "" {
		t.Fatalf("no challenge: %s", s.pre)
	}
	// What the tree can get hold of at best: the exact grant line of
	// this run (here the test hands it over through a file).
	f, err := os.Create(filepath.Join(home, "grantline"))
	if err != nil {
		t.Fatal(err)
	}
	if err := grant.WriteLine(f, s.token); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fmt.Fprintln(s.in, "go")
	out, code := s.finish(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, " -c keyturn-guard-v2 \n") || strings.Contains(out, "-c "+grant.Prefix) {
		t.Errorf("the guard's argv is not just the fixed command:\n%s", out)
	}
	if strings.Contains(out, "a replay ran the line") {
		t.Error("a replay ran the line")
	}
	// Outside the tree (an author who logs in to the account directly,
	// as version 1's replay did): the exact token of the run, refused.
	os.Remove(filepath.Join(home, "ran"))
	if o := runSpec(t, home, grantSpec{token: s.token}); o.code != guard.ExitGrant || !strings.Contains(o.stderr, "another challenge") {
		t.Errorf("outside replay: exit %d: %s", o.code, o.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "ran")); err == nil {
		t.Error("the outside replay ran the line")
	}
	for _, want := range []string{
		fmt.Sprintf("argv-replay=%d", guard.ExitGrant),
		fmt.Sprintf("stdin-replay=%d", guard.ExitGrant),
		"keyturn-guard: refused: grant: issued for another challenge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestGuardNotDumpable: a process of the tree, running as the same
// non-root account, cannot open the guard's memory (read or write) or its
// environ, nor resolve its executable. Writing /proc/GUARD/mem would let
// the tree rewrite the tracer's decisions; with the guard dumpable (before
// PR_SET_DUMPABLE) every one of these opens succeeded. The same opens on
// the tree's own shell succeed, so the check can tell.
func TestGuardNotDumpable(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, home, "-c", guard.Command)
	if os.Geteuid() == 0 {
		// Root may read any process's memory (CAP_SYS_PTRACE); the
		// account the guard protects against is the same uid, not root.
		const nobody = 65534
		for _, d := range []string{installDir, home} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(home, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(home), 0o755); err != nil {
			t.Fatal(err)
		}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	line := `for p in $PPID $$; do
  [ $p = $$ ] && w=self || w=guard
  (exec 3</proc/$p/mem) 2>/dev/null && echo "$w mem-read open" || echo "$w mem-read denied"
  (exec 3>/proc/$p/mem) 2>/dev/null && echo "$w mem-write open" || echo "$w mem-write denied"
  (exec 3</proc/$p/environ) 2>/dev/null && echo "$w environ open" || echo "$w environ denied"
  readlink /proc/$p/exe >/dev/null 2>&1 && echo "$w exe open" || echo "$w exe denied"
done`
	out, code := startSession(t, c, true, grantSpec{line: line}).finish(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"guard mem-read denied", "guard mem-write denied", "guard environ denied", "guard exe denied",
		"self mem-read open", "self mem-write open", "self environ open", "self exe open",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestGrantLineReadExactly: the command's stdin is what the client sent
// after the grant line, byte for byte, so the guard neither keeps part of
// it nor lets the tree see the grant.
func TestGrantLineReadExactly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, t.TempDir(), "-c", guard.Command)
	s := startSession(t, c, true, grantSpec{line: "sha256sum"})
	in := strings.Repeat("stdin of the command\n", 5000)
	if _, err := fmt.Fprint(s.in, in); err != nil {
		t.Fatal(err)
	}
	out, code := s.finish(t)
	want := fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(in)))
	if code != 0 || out != want {
		t.Fatalf("exit %d: %q, want %q", code, out, want)
	}
}

// TestBrokenPolicyRunsNothing: the policy is parsed while the guard waits
// for its grant and its child starts; a policy that does not parse (whose
// digest the grant nevertheless carries) stops the child before any of the
// line runs.
func TestBrokenPolicyRunsNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	broken := []byte("version: 1\nactions:\n  - name: [\n")
	for _, f := range []string{"keyturn-guard", "gate.pub", "target"} {
		data, err := os.ReadFile(filepath.Join(installDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), broken, 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	marker := filepath.Join(home, "ran")
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(dir, "keyturn-guard"), "-c", guard.Command)
	c.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	s := startSession(t, c, true, grantSpec{line: "touch " + marker, edit: func(g *grant.Grant) { g.Policy = grant.PolicyDigest(broken) }})
	out, code := s.finish(t)
	if s.challenge == "" || code != guard.ExitInternal || !strings.Contains(out, "policies.yaml") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the line ran under a policy that does not parse")
	}
}
