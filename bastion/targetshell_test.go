package bastion

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

// TestTargetCommandSameUnderEveryShell: whatever the target account's login
// shell, the line runs under bash exactly as the policy read it (issue 18).
// Under dash, echo $'\'<newline>echo INJECTED<newline>\” runs the second
// echo as a command; sent through bashCommand it does not.
func TestTargetCommandSameUnderEveryShell(t *testing.T) {
	bash := targetShellPath(t, "bash")
	lines := []string{
		"echo $'\\'\necho INJECTED\n\\''",
		`echo 'it'"'"'s'; printf '%s\n' "a b" c`,
		"echo =true",
		`x='a'\''b'; echo "$x" $'\x41' $((1+2))`,
		"echo {a,b}c; echo ${HOME+set}",
		"printf '%s|' 'single '\\'' quote' \"double \\\" quote\" $'tab\\there'; echo",
		"cat <<'EOF'\n$(not run)\nEOF",
		// tcsh expands ! even inside single quotes; fish reads \' and
		// \\ inside them as escapes; csh ends them at a newline.
		"echo '!!' a!b; echo !$",
		`echo 'x\'; echo INJECTED; echo '\\'`,
		`printf '%s|' 'a\' "b\\" 'c\\'\''' d\\e; echo`,
		"echo 'tab\there' \xc3\xa9 $'\\x01'",
		"echo a \\\nb",
	}
	want := func(line string) string { return runShell(t, bash, "--norc", "--noprofile", "-c", line) }
	shells := []string{bash}
	for _, name := range []string{"dash", "sh", "zsh", "ksh", "mksh", "fish", "tcsh", "csh"} {
		if p, ok := sshtest.LookTool(t, name); ok {
			shells = append(shells, p)
		}
	}
	if len(shells) < 2 && os.Getenv("CI") == "true" {
		t.Fatal("no shell other than bash to compare with")
	}
	for _, line := range lines {
		w := want(line)
		for _, sh := range shells {
			// sshd runs the exec request as: LOGIN_SHELL -c REQUEST.
			if got := runShell(t, sh, "-c", bashCommand(bash, line)); got != w {
				t.Errorf("login shell %s ran %q as %q; bash runs it as %q", sh, line, got, w)
			}
		}
	}
	// The case the issue found: dash alone reads it differently, so the
	// comparison above is one that the old gate (sending the line as is)
	// would fail.
	if dash, err := exec.LookPath("dash"); err == nil {
		line := lines[0]
		if runShell(t, dash, "-c", line) == want(line) {
			t.Errorf("dash and bash agree on %q; the test no longer shows the difference", line)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("dash is not installed")
	}
}

// Every byte of a line reaches the wrapper's bash as it is, whatever the
// login shell: random lines (every byte value but NUL, which no argument
// can hold), encoded as bashCommand does, printed back by bash under each
// shell. (Printed, not run: a random line could be any command.)
func TestTargetCommandBytesSurviveEveryShell(t *testing.T) {
	bash := targetShellPath(t, "bash")
	shells := []string{bash}
	for _, name := range []string{"dash", "zsh", "ksh", "mksh", "fish", "tcsh", "csh"} {
		if p, ok := sshtest.LookTool(t, name); ok {
			shells = append(shells, p)
		}
	}
	rng := rand.New(rand.NewPCG(18, 13))
	lines := []string{"\\'\n!'\\", "\xff\x01\x7f", "a\\0101b", "%b %s\\c", "'\"'\"\n"}
	for range 40 {
		b := make([]byte, 1+rng.IntN(60))
		for i := range b {
			b[i] = byte(1 + rng.IntN(255))
		}
		lines = append(lines, string(b))
	}
	for _, line := range lines {
		cmd := "exec " + bash + " --norc --noprofile -c " + shellQuote(decodeThen(line, `printf %s "$KEYTURN_LINE"`))
		for _, sh := range shells {
			if got := runShell(t, sh, "-c", cmd); got != line+"\n[exit error: none]" {
				t.Errorf("login shell %s passed %q to bash as %q", sh, line, got)
			}
		}
	}
}

func TestTargetCommandShellPath(t *testing.T) {
	if got, want := bashCommand("", "id"), "exec /bin/bash --norc --noprofile -c 'id'"; got != want {
		t.Errorf("bashCommand = %q; want %q", got, want)
	}
	if got, want := bashCommand("/usr/local/bin/bash", "it's"), `exec /usr/local/bin/bash --norc --noprofile -c 'it'\''s'`; got != want {
		t.Errorf("bashCommand = %q; want %q", got, want)
	}
	// A line no login shell may be trusted to pass through quotes as
	// it is goes encoded.
	if got, want := bashCommand("", "echo 'a\\b'\n!x"), `exec /bin/bash --norc --noprofile -c 'printf -v KEYTURN_LINE %b "echo \0047a\0134b\0047\0012\0041x" && eval "$KEYTURN_LINE"'`; got != want {
		t.Errorf("bashCommand = %q; want %q", got, want)
	}
}

func targetShellPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %v", name, err)
	}
	return p
}

func runShell(t *testing.T, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish in 30s", prog, args)
	}
	// The output and whether it failed are what is compared.
	return string(out) + "\n[exit error: " + errString(err) + "]"
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
