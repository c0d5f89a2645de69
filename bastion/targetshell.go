package bastion

import "strings"

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

// defaultTargetShell runs command lines on targets without a shell: entry.
const defaultTargetShell = "/bin/bash"

// bashCommand returns what the gate sends to an unguarded target to run
// line with shell. (A guarded target's login is keyturn-guard, which runs
// the line with its own fixed shell: it gets the grant as it is.)
func bashCommand(shell, line string) string {
	if shell == "" {
		shell = defaultTargetShell
	}
	return "exec " + shell + " --norc --noprofile -c " + shellQuote(line)
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
