package targets

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

const testNonce = "00112233445566778899aabb"

// runProbe runs the probe as sshd would under the login shell sh (sh -c
// PROBE), in env, and returns its stdout and how it exited, as the pool
// judges them.
func runProbe(t *testing.T, sh, shell string, env []string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-c", shellProbeCommand(shell, testNonce))
	cmd.Env = env
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("probe under %s did not finish in 30s", sh)
	}
	if err != nil {
		return errors.Join(errProbeAnswer, err)
	}
	return parseShellProbe(out, testNonce)
}

// sshEnv is the environment sshd gives a login, HOME set to home: with
// SSH_CLIENT set, Debian's bash reads ~/.bashrc for `bash -c` too
// (SSH_SOURCE_BASHRC), as it does for a command over ssh.
func sshEnv(home string, more ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "HOME=" + home, "SSH_CLIENT=127.0.0.1 40000 22", "USER=u", "SHELL=/bin/bash"}, more...)
}

// The probe answers yes for a bash login whose rc files leave nothing
// behind, and no for every rc file that leaves something a fresh
// `bash --norc --noprofile -c` lacks.
func TestShellProbeBashRCFiles(t *testing.T) {
	bash := sshtest.Tool(t, "bash")
	cases := []struct {
		name, rc string
		yes      bool
	}{
		{"no rc file", "", true},
		{"exports only", "export FOO=bar\nexport PATH=\"$PATH:/opt/x\"\numask 027\ncd /\n", true},
		// Ubuntu's and Debian's skeleton .bashrc stops for a shell that
		// is not interactive, before its aliases and shopts.
		{"skeleton", "case $- in\n  *i*) ;;\n  *) return;;\nesac\nalias ll='ls -l'\nshopt -s histappend\n", true},
		{"function", "greet() { echo hi; }\n", false},
		{"function named exec", "exec() { echo hijacked; }\n", false},
		{"command_not_found_handle", "command_not_found_handle() { :; }\n", false},
		{"alias", "alias ls='rm -rf'\n", false},
		{"alias, expanded", "shopt -s expand_aliases\nalias kill=true\n", false},
		{"shopt", "shopt -s extglob\n", false},
		{"shopt off", "shopt -u sourcepath\n", false},
		{"set -o", "set -o noglob\n", false},
		{"posix mode", "POSIXLY_CORRECT=1\n", false},
		{"IFS", "IFS=x\n", false},
		{"GLOBIGNORE", "GLOBIGNORE='*'\n", false},
		{"EXECIGNORE", "EXECIGNORE='*/kill'\n", false},
		{"BASH_COMPAT", "BASH_COMPAT=3.2\n", false},
		{"plain variable", "x=1\n", false},
		{"readonly", "readonly OPTIND\n", false},
		// Exported, so the wrapper's bash gets the value too, but not
		// the attribute: an assignment the policy reads (X=start;
		// service auditd $X) would fail, or change the value, only
		// without the wrapper.
		{"exported readonly", "declare -rx X=stop\n", false},
		{"readonly PATH", "readonly PATH\n", false},
		{"exported integer", "declare -ix N=1\n", false},
		{"exported uppercase", "declare -ux U=a\n", false},
		{"exported lowercase", "declare -lx L=a\n", false},
		{"trap DEBUG", "trap 'echo x' DEBUG\n", false},
		{"trap EXIT", "trap 'rm -f /tmp/x' EXIT\n", false},
		{"hashed path", "hash -p /bin/true kill\n", false},
		{"builtin disabled", "enable -n kill\n", false},
		{"prints to stdout", "echo hello\n", false},
		{"prints a forged report", "printf 'keyturn-shell-probe-" + testNonce + "-end\\n'\n", false},
		{"exits", "exit 0\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			if c.rc != "" {
				if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte(c.rc), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := runProbe(t, bash, bash, sshEnv(home))
			if c.yes && err != nil {
				t.Errorf("rc %q: probe said no: %v", c.rc, err)
			}
			if !c.yes && err == nil {
				t.Errorf("rc %q: probe said plain bash", c.rc)
			}
		})
	}
	// The rc file is really read (else every "no" above would be for
	// another reason): a function it defines is there for the line.
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".bashrc"), []byte("greet() { echo hi; }\n"), 0o600)
	cmd := exec.Command(bash, "-c", "greet")
	cmd.Env = sshEnv(home)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "hi" {
		t.Fatalf("this bash does not read ~/.bashrc for a command run by sshd (%q, %v): the cases above prove nothing", out, err)
	}
}

// What reaches both the login shell and the wrapper's bash (exported
// variables, SHELLOPTS) does not stand in the way, except exported
// functions: the probe says yes only with no function at all. BASH_ENV
// is one that does not reach both: a bash run by sshd reads ~/.bashrc
// instead, while the wrapper's bash (SHLVL 2) reads BASH_ENV; the probe
// sees the difference because it compares with a real fresh bash.
func TestShellProbeEnvironment(t *testing.T) {
	bash := sshtest.Tool(t, "bash")
	dir := t.TempDir()
	opts := filepath.Join(dir, "opts")
	os.WriteFile(opts, []byte("shopt -s extglob\n"), 0o600)
	fn := filepath.Join(dir, "fn")
	os.WriteFile(fn, []byte("f() { :; }\n"), 0o600)
	for _, c := range []struct {
		name string
		env  []string
		yes  bool
	}{
		{"BASH_ENV options (only the wrapper's bash reads it)", []string{"BASH_ENV=" + opts}, false},
		{"SHELLOPTS exported (both import it)", []string{"SHELLOPTS=braceexpand:hashall:interactive-comments:noglob"}, true},
		{"BASH_ENV function", []string{"BASH_ENV=" + fn}, false},
		{"exported function", []string{"BASH_FUNC_f%%=() { :; }"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := runProbe(t, bash, bash, sshEnv(t.TempDir(), c.env...))
			if c.yes != (err == nil) {
				t.Errorf("yes = %v (err %v); want %v", err == nil, err, c.yes)
			}
		})
	}
}

// Under any other login shell the probe fails harmlessly, even with an
// environment that fakes bash's variables: dash, zsh, ksh, mksh, fish,
// tcsh, csh, posh, yash (each that is installed; under CI every one must
// be: .ci/run installs them).
func TestShellProbeOtherShells(t *testing.T) {
	bash := sshtest.Tool(t, "bash")
	sshtest.Tool(t, "dash")
	fake := []string{"BASH=" + bash, "BASH_VERSION=5.2.15(1)-release", "BASHOPTS=x", "SHELLOPTS=y"}
	ran := 0
	for _, name := range []string{"dash", "sh", "zsh", "ksh", "mksh", "fish", "tcsh", "csh", "posh", "yash"} {
		sh, ok := sshtest.LookTool(t, name)
		if !ok {
			continue
		}
		if real, _ := filepath.EvalSymlinks(sh); filepath.Base(real) == "bash" {
			continue // sh may be bash elsewhere
		}
		ran++
		for _, env := range [][]string{sshEnv(t.TempDir()), sshEnv(t.TempDir(), fake...)} {
			if err := runProbe(t, sh, bash, env); err == nil {
				t.Errorf("login shell %s (env %q): probe said plain bash", sh, env)
			}
		}
	}
	if ran == 0 {
		t.Fatal("no shell other than bash ran the probe")
	}
	// A bash that is not the configured one (another file) is no either.
	other := filepath.Join(t.TempDir(), "bash")
	data, err := os.ReadFile(bash)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := runProbe(t, other, bash, sshEnv(t.TempDir())); err == nil {
		t.Errorf("a copy of bash at %s passed for %s", other, bash)
	}
}

// parseShellProbe accepts only the exact report: garbled, forged, cut or
// padded reports are refused.
func TestParseShellProbe(t *testing.T) {
	bash := sshtest.Tool(t, "bash")
	cmd := exec.Command(bash, "-c", shellProbeCommand(bash, testNonce))
	cmd.Env = sshEnv(t.TempDir())
	good, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := parseShellProbe(good, testNonce); err != nil {
		t.Fatalf("a clean bash's report: %v\n%s", err, good)
	}
	s := string(good)
	m := shellProbeMarker + testNonce
	sec := m + "-section\n"
	second := strings.LastIndex(s, sec)
	fresh, login := s[len(sec):second], s[second+len(sec):len(s)-len(m+"-end\n")]
	other := shellProbeMarker + "ffeeddccbbaa998877665544"
	bad := map[string]string{
		"empty":                     "",
		"end only":                  m + "-end\n",
		"another probe's nonce":     strings.ReplaceAll(s, m, other),
		"rc output first":           "welcome\n" + s,
		"trailing output":           s + "x\n",
		"no final newline":          strings.TrimSuffix(s, "\n"),
		"CRLF":                      strings.ReplaceAll(s, "\n", "\r\n"),
		"login section missing":     sec + fresh + m + "-end\n",
		"fresh section twice":       sec + fresh + sec + fresh + sec + login + m + "-end\n",
		"sections swapped, one cut": sec + login + sec + fresh[:len(fresh)/2] + m + "-end\n",
		"login differs":             sec + fresh + sec + strings.Replace(login, "declare -- IFS", "declare -- IFX", 1) + m + "-end\n",
		"both say path other":       strings.ReplaceAll(s, "path same", "path other"),
		"both say exe other":        strings.ReplaceAll(s, "exe same", "exe other"),
		"both say functions some":   strings.ReplaceAll(s, "functions none", "functions some"),
		"both say aliases some":     strings.ReplaceAll(s, "aliases none", "aliases some"),
		"both lack the vars":        strings.ReplaceAll(s, m+"-vars\n", ""),
		"both lack traps marker":    strings.ReplaceAll(s, m+"-traps\n", ""),
		"marker inside a value":     strings.ReplaceAll(s, "declare -- IFS", "declare -- X=\""+m+"-section\"\ndeclare -- IFS"),
		"fields reordered":          strings.ReplaceAll(s, "path same\nexe same", "exe same\npath same"),
		"too long":                  s + strings.Repeat("x", maxShellProbeOutput),
		"binary":                    "\x00\xff" + s,
	}
	for name, out := range bad {
		if err := parseShellProbe([]byte(out), testNonce); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, errProbeAnswer) {
			t.Errorf("%s: error %v is not errProbeAnswer", name, err)
		}
	}
}

// FuzzParseShellProbe: no input makes the parser panic, and whatever it
// accepts is two identical sections of a plain bash's report.
func FuzzParseShellProbe(f *testing.F) {
	m := shellProbeMarker + testNonce
	f.Add([]byte(m + "-section\npath same\nexe same\nfunctions none\naliases none\nflags hBc\nbashopts a\nshellopts b\n" + m + "-traps\n" + m + "-builtins\n" + m + "-vars\n" +
		m + "-section\npath same\nexe same\nfunctions none\naliases none\nflags hBc\nbashopts a\nshellopts b\n" + m + "-traps\n" + m + "-builtins\n" + m + "-vars\n" + m + "-end\n"))
	f.Add([]byte(m + "-end\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		if parseShellProbe(out, testNonce) != nil {
			return
		}
		s := string(out)
		sec := m + "-section\n"
		if !strings.HasPrefix(s, sec) || strings.Count(s, sec) != 2 {
			t.Fatalf("accepted %q", out)
		}
		i := strings.LastIndex(s, sec)
		if s[len(sec):i] != s[i+len(sec):len(s)-len(m+"-end\n")] {
			t.Fatalf("accepted differing sections %q", out)
		}
		if !strings.HasPrefix(s[len(sec):], "path same\nexe same\nfunctions none\naliases none\n") {
			t.Fatalf("accepted %q", out)
		}
	})
}
