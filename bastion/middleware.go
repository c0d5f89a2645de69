package bastion

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/anmitsu/go-shlex"
	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/metrics"
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
					s.Exit(ExitInternal)
				}
			}()
			next(s)
		}
	}
}

// logSessions logs each session's start and end.
func logSessions(log *slog.Logger) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			start := time.Now()
			_, _, pty := s.Pty()
			log.Info("session start", "login", s.User(), "remote", s.RemoteAddr().String(), "command", redactSecrets(s.RawCommand()), "pty", pty)
			next(s)
			log.Info("session end", "login", s.User(), "remote", s.RemoteAddr().String(), "took", time.Since(start))
		}
	}
}

// countSessions calls count with each session's kind as it starts:
// "target" (USER+TARGET), "console" (USER with a terminal and no command)
// or "gate" (USER's gate commands). It reads only the login name and the
// request, so it costs what count costs.
func countSessions(count func(kind string)) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			_, _, pty := s.Pty()
			switch _, target := splitLogin(s.User()); {
			case target != "":
				count(metrics.SessionTarget)
			case pty && s.RawCommand() == "":
				count(metrics.SessionConsole)
			default:
				count(metrics.SessionGate)
			}
			next(s)
		}
	}
}

// Use wraps the gate's session handler in mws, the first listed
// outermost, around everything New installed. Call it before Serve.
func (g *Gate) Use(mws ...Middleware) {
	g.srv.Handler = Chain(g.srv.Handler, mws...)
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
