package targets

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// The gate reads every line as bash does, so on an unguarded target it
// runs the line as `exec SHELL --norc --noprofile -c '<line>'` under the
// account's login shell (bastion/targetshell.go): dash or zsh would read
// the same bytes differently. That second bash costs every session a
// process start on the target (about 1.1–1.4 ms of a 9 ms warm exec).
//
// When the login shell is that very bash, sshd already runs
// `bash -c '<line>'`, and the wrapper changes only what the login's rc
// files left behind that does not reach a child bash: functions (an rc
// file may define one named exec, so the wrapper is no guard against rc
// files), aliases, traps, shell options, non-exported variables, the
// command hash, disabled or loaded builtins. The shell probe below asks,
// once per pooled connection (sshd fixes the login shell at
// authentication), whether there is any: it runs the same report in a
// fresh `SHELL --norc --noprofile -c` and in the login shell itself, and
// the line may go unwrapped only if both reports are identical and the
// login shell is the configured bash's own file. Anything else (another
// shell, an error, a timeout, output that is not exactly the report, an
// exit status other than 0) leaves the connection on the wrapper.
//
// The probe runs on a channel of its own: nothing a user's session writes
// on its channel can reach the probe's. Its markers carry a nonce fresh
// for each probe.

// ShellProbeTimeout bounds a shell probe: channel open, run and report.
const ShellProbeTimeout = 10 * time.Second

// maxShellProbeOutput bounds what the gate reads of a probe's report: a
// clean bash reports about 4 KiB; more is an answer of no.
const maxShellProbeOutput = 64 << 10

// shellProbeMarker starts every marker line of the probe's report.
const shellProbeMarker = "keyturn-shell-probe-"

// safeShellPath is a path the probe may put in its text unquoted (the
// config refuses any other shell).
var safeShellPath = regexp.MustCompile(`^/[A-Za-z0-9/._+-]*$`)

// dynamicVars are bash's variables whose values differ between two bash
// processes whatever their rc files: they are left out of the report.
// BASH (the path the shell was started by) is compared by file instead.
const dynamicVars = "_|v|n|BASH|BASH_ARGC|BASH_ARGV|BASH_ARGV0|BASH_COMMAND|BASH_EXECUTION_STRING|BASH_LINENO|BASH_SOURCE|BASH_SUBSHELL|BASHPID|PPID|LINENO|RANDOM|SRANDOM|SECONDS|EPOCHSECONDS|EPOCHREALTIME|HISTCMD|FUNCNAME|PIPESTATUS"

// IsShellProbe reports whether a command a target received is the gate's
// shell probe rather than a session's line (for tests that note what
// reaches a target).
func IsShellProbe(command string) bool {
	return strings.HasPrefix(command, shellProbePrefix)
}

// shellProbePrefix starts every probe. A login shell that is not bash
// (or a bash started without its version variable) stops here: dash, zsh,
// ksh, fish and csh all read this line, and all exit non-zero.
const shellProbePrefix = `[ -n "$BASH_VERSION" ] || exit 97` + "\n"

// shellProbeCommand is the probe for a target whose configured bash is
// shell, with markers carrying nonce. Its report, run once in a fresh
// `shell --norc --noprofile -c` and once in the login shell, lists:
// whether $BASH and the running process (/proc/$$/exe: an environment
// cannot fake it) are shell's file, whether a function or alias is
// defined, $-, BASHOPTS, SHELLOPTS, the traps, every builtin and whether
// it is enabled, and every variable that is not exported with its
// attributes and value (the alias and hash tables are BASH_ALIASES and
// BASH_CMDS). Exported variables and functions reach the wrapper's bash
// too, but not a variable's other attributes: an exported variable that
// is also readonly, integer, upper- or lower-case is listed with them (an
// rc file's readonly X=stop makes `X=start; service auditd $X`, which the
// policy reads as start, stop auditd without the wrapper only). The
// report runs no program but the fresh bash.
func shellProbeCommand(shell, nonce string) string {
	m := shellProbeMarker + nonce
	report := `
echo ` + m + `-section
[ "$BASH" -ef ` + shell + ` ] && echo path same || echo path other
[ /proc/$$/exe -ef ` + shell + ` ] && echo exe same || echo exe other
[ -z "$(compgen -A function)" ] && echo functions none || echo functions some
[ -z "$(compgen -a)" ] && echo aliases none || echo aliases some
echo "flags $-"
echo "bashopts $BASHOPTS"
echo "shellopts $SHELLOPTS"
echo ` + m + `-traps
trap -p
echo ` + m + `-builtins
enable -a
echo ` + m + `-vars
n=()
for v in $(compgen -v); do
	case $v in
	` + dynamicVars + `) ;;
	*) if [[ ${!v@a} == *x* ]]; then [[ ${!v@a} == x ]] || echo "exported $v ${!v@a}"; else n+=("$v"); fi ;;
	esac
done
declare -p "${n[@]}"
`
	// The fresh bash's report comes first; then the login shell's, run
	// with eval once the variable holding it is gone (eval expands its
	// argument before it runs the unset).
	return shellProbePrefix + "R='" + report + "'\n" +
		shell + ` --norc --noprofile -c "$R" && eval "unset R; $R" && echo ` + m + "-end\n"
}

// errProbeAnswer is a probe's report that is not a plain bash's.
var errProbeAnswer = errors.New("login shell is not a plain bash")

// parseShellProbe reads the report of the probe with nonce: it returns nil
// only if out is exactly two identical sections (the fresh bash's, then
// the login shell's), each complete, saying that $BASH and the running
// process are the configured bash and that no function or alias is
// defined, then the end marker. Anything else is an error saying what
// differed.
func parseShellProbe(out []byte, nonce string) error {
	if len(out) > maxShellProbeOutput {
		return fmt.Errorf("%w: report longer than %d bytes", errProbeAnswer, maxShellProbeOutput)
	}
	m := shellProbeMarker + nonce
	section, end := m+"-section\n", m+"-end\n"
	s := string(out)
	if !strings.HasPrefix(s, section) {
		return fmt.Errorf("%w: report does not start with its marker: %.80q", errProbeAnswer, s)
	}
	if !strings.HasSuffix(s, "\n"+end) {
		return fmt.Errorf("%w: report does not end with its marker", errProbeAnswer)
	}
	body := s[len(section) : len(s)-len(end)]
	// Markers are whole lines: split on the section marker at a line
	// start; a marker anywhere else (inside a value) is left to the
	// count below.
	parts := strings.Split(body, "\n"+section)
	if len(parts) != 2 {
		return fmt.Errorf("%w: %d sections, want 2", errProbeAnswer, len(parts))
	}
	fresh, login := parts[0]+"\n", parts[1]
	if strings.Count(s, m) != 2*4+1 {
		return fmt.Errorf("%w: %d markers, want 9", errProbeAnswer, strings.Count(s, m))
	}
	if fresh != login {
		return fmt.Errorf("%w: differs from a fresh bash at %q", errProbeAnswer, firstDiff(login, fresh))
	}
	lines := strings.SplitN(login, "\n", 8)
	want := []string{"path same", "exe same", "functions none", "aliases none"}
	if len(lines) < 8 {
		return fmt.Errorf("%w: report has %d lines", errProbeAnswer, len(lines))
	}
	for i, w := range want {
		if lines[i] != w {
			return fmt.Errorf("%w: %q, want %q", errProbeAnswer, lines[i], w)
		}
	}
	for i, key := range []string{"flags ", "bashopts ", "shellopts "} {
		if !strings.HasPrefix(lines[len(want)+i], key) {
			return fmt.Errorf("%w: line %q, want %s", errProbeAnswer, lines[len(want)+i], key)
		}
	}
	rest := "\n" + lines[7]
	at := 0
	for _, sub := range []string{"-traps\n", "-builtins\n", "-vars\n"} {
		i := strings.Index(rest[at:], "\n"+m+sub)
		if i < 0 {
			return fmt.Errorf("%w: no %s marker in order", errProbeAnswer, strings.TrimSpace(sub))
		}
		at += i + 1
	}
	return nil
}

// firstDiff is a's line where a and b first differ (for the log).
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return al[i]
		}
	}
	return "(a line missing)"
}

// probeShell runs the shell probe on client and reports whether the login
// shell reads a line exactly as `shell --norc --noprofile -c` would. Any
// failure is a no, with the reason.
func probeShell(client *gossh.Client, shell string, timeout time.Duration) error {
	if !safeShellPath.MatchString(shell) {
		return fmt.Errorf("%w: shell %q is not a plain path", errProbeAnswer, shell)
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("shell probe nonce: %w", err)
	}
	nonce := hex.EncodeToString(b[:])
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	// opened gets the probe's channel, or nil, exactly once: whatever
	// ends the wait below, the channel is closed when it is there.
	opened := make(chan *gossh.Session, 1)
	defer func() {
		go func() {
			if s := <-opened; s != nil {
				s.Close()
			}
		}()
	}()
	go func() {
		sess, err := client.NewSession()
		opened <- sess
		if err != nil {
			done <- result{err: fmt.Errorf("shell probe channel: %w", err)}
			return
		}
		out, err := sess.StdoutPipe()
		if err != nil {
			done <- result{err: fmt.Errorf("shell probe: %w", err)}
			return
		}
		if err := sess.Start(shellProbeCommand(shell, nonce)); err != nil {
			done <- result{err: fmt.Errorf("shell probe: %w", err)}
			return
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, io.LimitReader(out, maxShellProbeOutput+1))
		if err == nil && buf.Len() > maxShellProbeOutput {
			err = fmt.Errorf("%w: report longer than %d bytes", errProbeAnswer, maxShellProbeOutput)
		}
		if err == nil {
			// Only an exit status of 0 is an answer: another process
			// of the account on the target may write into the
			// probe's output (through /proc), but it cannot change
			// how the probe's shell exited.
			if werr := sess.Wait(); werr != nil {
				if parseShellProbe(buf.Bytes(), nonce) == nil {
					err = fmt.Errorf("%w: a well-formed report but the shell exited with %v (written by another process?)", errProbeAnswer, werr)
				} else {
					err = fmt.Errorf("%w: %v", errProbeAnswer, werr)
				}
			}
		}
		done <- result{out: buf.Bytes(), err: err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var r result
	select {
	case r = <-done:
	case <-timer.C:
		r.err = fmt.Errorf("%w: no answer within %v", errProbeAnswer, timeout)
	}
	if r.err != nil {
		return r.err
	}
	return parseShellProbe(r.out, nonce)
}
