package bastion

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/bastion/targets"
)

// The gate reads every command line as bash does (package policy), so the
// line must run under bash on the target, whatever the account's login
// shell: dash or zsh read the same bytes differently (under dash,
// echo $'\'<newline>kill 1<newline>\'' runs kill; zsh's =kill runs kill).
// sshd hands the exec request to the login shell with -c, so the gate sends
//
//	exec /bin/bash --norc --noprofile -c '<line>'
//
// quoted so that every POSIX shell passes the line through unchanged, and
// bash reads no rc file of its own (rc-file staging is the persistence
// rules' business).
//
// The one exception (shell_wrapper: auto, the default): when the pooled
// connection's shell probe (targets/shellprobe.go) has shown that the
// login shell is that same bash with nothing of its rc files left that a
// fresh `bash --norc --noprofile -c` lacks, the line goes as it is: sshd
// then runs `bash -c '<line>'`, which reads it exactly as the wrapper's
// bash would, one process start sooner. The wrapper adds no protection
// against the rc files themselves: the outer bash has read them before it
// runs the wrapper (Debian's bash reads ~/.bashrc for sshd's commands),
// and one may define a function named exec; BASH_ENV and exported
// functions reach the inner bash anyway. A target whose rc files cannot
// be trusted runs keyturn-guard.

// defaultTargetShell runs command lines on targets without a shell: entry.
const defaultTargetShell = targets.DefaultShell

// bashCommand returns what the gate sends to an unguarded target to run
// line with shell. (A guarded target's login is keyturn-guard, which runs
// the line with its own fixed shell: it gets the grant as it is.)
func bashCommand(shell, line string) string {
	if shell == "" {
		shell = defaultTargetShell
	}
	if !plainQuotable(line) {
		// csh and tcsh end a single-quoted string at a newline and
		// expand ! inside one; fish reads \' and \\ inside one as
		// escapes. A line with such bytes goes encoded: bash decodes it
		// (printf %b of \0NNN escapes) and evals it, so the login shell
		// sees printable ASCII with no backslash before a quote.
		line = decodeThen(line, `eval "$KEYTURN_LINE"`)
	}
	return "exec " + shell + " --norc --noprofile -c " + shellQuote(line)
}

// targetCommandLimit bounds what the gate sends as one exec request: an
// SSH packet carries at most 256 KiB (OpenSSH and x/crypto both), and a
// request over it breaks the whole pooled connection, ending every other
// session on it. The rest is room for the packet's own fields. (Linux
// execs no argument over 128 KiB either; such a line fails on the target,
// without harm to other sessions.)
const targetCommandLimit = 256<<10 - 1024

var (
	errLineNUL     = errors.New("the line holds a NUL byte, which no shell can receive")
	errLineTooLong = errors.New("the line is too long to send to the target once quoted for its shell")
)

// unguardedLineError says why line cannot go to an unguarded target with
// shell as the policy read it, or nil. A NUL byte would cut the line
// where bash decodes it (printf %b) while the policy read all of it; a
// line whose wrapped form is over targetCommandLimit would break the
// pooled connection. The wrapped form is the longest the gate may send,
// so the answer does not depend on the connection's shell probe.
func unguardedLineError(shell, line string) error {
	if strings.IndexByte(line, 0) >= 0 {
		return errLineNUL
	}
	if n := len(bashCommand(shell, line)); n > targetCommandLimit {
		return fmt.Errorf("%w (%d bytes; at most %d)", errLineTooLong, n, targetCommandLimit)
	}
	return nil
}

// decodeThen is a bash script that sets KEYTURN_LINE to line, decoded
// from encodeLine's form, then runs use.
func decodeThen(line, use string) string {
	return `printf -v KEYTURN_LINE %b "` + encodeLine(line) + `" && ` + use
}

// plainQuotable reports whether every login shell passes line through
// single quotes unchanged: printable ASCII without backslash or !.
func plainQuotable(line string) bool {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c > 0x7e || c == '\\' || c == '!' {
			return false
		}
	}
	return true
}

// encodeLine writes line for printf %b inside bash double quotes, inside
// the login shell's single quotes: letters, digits and inert punctuation
// as they are, every other byte as \0NNN (a backslash is always followed
// by 0, so no shell reads \' or \\ in it).
func encodeLine(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= 0x20 && c <= 0x7e && !strings.ContainsRune("\\!'\"$`", rune(c)) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "\\0%03o", c)
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell: inside single quotes every byte
// stands for itself; a single quote is closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// targetShell is the bash configured for a target.
func (g *Gate) targetShell(target string) string {
	if g.cfg == nil {
		return defaultTargetShell
	}
	if t, ok := g.cfg.Target(target); ok && t.Shell != "" {
		return t.Shell
	}
	return defaultTargetShell
}

// unguardedCommand is what the gate sends on ts to run line on an
// unguarded target: line as it is if ts's connection was probed a plain
// bash login and the session has no terminal, else wrapped (bashCommand).
// An empty line (a shell) is sent empty. The probe runs without a
// terminal, and an rc file may do other things on one (`[ -t 0 ]`), so
// a session with a terminal is always wrapped.
func (g *Gate) unguardedCommand(ts *targets.Session, target, line string, pty bool) string {
	if line == "" || (ts.PlainBash() && !pty) {
		return line
	}
	return bashCommand(g.targetShell(target), line)
}
