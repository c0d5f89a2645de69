package bastion

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/anmitsu/go-shlex"
	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpacli"
)

// Middleware wraps a session handler.
type Middleware func(ssh.Handler) ssh.Handler

// Chain wraps h so that the first middleware listed runs first (outermost).
func Chain(h ssh.Handler, mws ...Middleware) ssh.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// recoverPanics turns a panic in a session into a logged internal error for
// that session alone.
func recoverPanics(log *slog.Logger) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("session panicked", "user", s.User(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					say(s, "keyturn: internal error")
					s.Exit(exitcode.Internal)
				}
			}()
			next(s)
		}
	}
}

// logSessions logs each session's start and end; a session that panics
// still logs its end, before recoverPanics reports the panic.
func logSessions(log *slog.Logger) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			start := time.Now()
			_, _, pty := s.Pty()
			log.Info("session start", "login", s.User(), "remote", s.RemoteAddr().String(), "command", redactSecrets(s.RawCommand()), "pty", pty)
			defer func() {
				log.Info("session end", "login", s.User(), "remote", s.RemoteAddr().String(), "took", time.Since(start))
			}()
			next(s)
		}
	}
}

// SessionKind is what a session is for, as the metrics count it.
type SessionKind string

// The kinds of session; their values are the metrics' labels
// (metrics.SessionTarget and so on; bastion/server checks they agree).
const (
	SessionTarget  SessionKind = "target"  // USER+TARGET: a command or shell on a target
	SessionGate    SessionKind = "gate"    // USER: the gate's own commands
	SessionConsole SessionKind = "console" // USER with a terminal and no command: the approvers' console
)

// countSessions calls count with each session's kind as it starts. It
// reads the identity the session carries and the terminal as snapshotPTY
// took it, so it costs what count costs; it sits inside recoverPanics, so
// a counter that panics fails one session, not the gate.
func countSessions(count func(SessionKind)) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			id, ok := sessionIdentity(s)
			if !ok {
				next(s) // route refuses it
				return
			}
			_, _, pty := s.Pty()
			switch {
			case id.Target != "":
				count(SessionTarget)
			case pty && s.RawCommand() == "":
				count(SessionConsole)
			default:
				count(SessionGate)
			}
			next(s)
		}
	}
}

// say writes a line for the person at the other end on the session's stderr.
// With a PTY the line ends in CRLF, as a raw terminal needs.
func say(s ssh.Session, format string, args ...any) {
	end := "\n"
	if _, _, pty := s.Pty(); pty {
		end = "\r\n"
	}
	fmt.Fprintf(s.Stderr(), format+end, args...)
}

// redactSecrets hides TOTP codes in a command line before it is logged: a
// code the gate refused before checking it (wrong request id, say) has not
// been used, and stays valid for a minute or so. The line is split as the
// gate splits it for its commands (gliderlabs' Session.Command uses
// go-shlex), and flags are read as the mpa commands' flag sets read them,
// so "-totp-code 1", "--totp-code=1" and a quoted '--totp-code' '1' are all
// found; a pattern misses what the parser accepts. A line that does not
// split (an open quote) is split at white space instead: the gate will not
// run it, but the log still must not show its code.
func redactSecrets(cmd string) string {
	args, err := shlex.Split(cmd, true)
	if err != nil {
		args = strings.Fields(cmd)
	}
	out, n := mpacli.RedactArgs(args)
	if n == 0 {
		return cmd
	}
	return mpacli.QuoteArgs(out)
}

// snapshotPTY reads the session's terminal once, before anything else does.
// The request loop updates the window size as changes come in (under the
// session's lock since the gate serves sessions itself, see session.go;
// in place and racily under gliderlabs' own loop). Handlers see the size
// the terminal started with here, clamped, and every later size on the
// channel (coalesced to the latest), which is all they need.
func snapshotPTY(next ssh.Handler) ssh.Handler {
	return func(s ssh.Session) {
		pty, winCh, isPty := s.Pty()
		next(ptySnapshot{Session: s, pty: pty, winCh: winCh, isPty: isPty})
	}
}

type ptySnapshot struct {
	ssh.Session
	pty   ssh.Pty
	winCh <-chan ssh.Window
	isPty bool
}

func (s ptySnapshot) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return s.pty, s.winCh, s.isPty }
