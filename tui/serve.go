package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/gliderlabs/ssh"
	"github.com/muesli/termenv"
)

// ErrNoPTY is returned by [Serve] for a session without a terminal: the
// console needs `ssh -t`.
var ErrNoPTY = errors.New("tui: the console needs a terminal (ssh -t)")

// Serve runs the console for viewer on s until they quit or the session
// ends, and returns nil in both cases. It is one Bubble Tea program per
// session: input and output are the session's, window changes are
// forwarded, and colours follow the client's TERM and NO_COLOR.
//
// The gate calls it for a login with a PTY, no command and no target,
// after authenticating the user and deciding their role, passing its
// clock in opts (time.Now if nil). The renderer and size in opts are
// ignored: they come from the session.
//
//	err := tui.Serve(s, svc, tui.Viewer{Name: user, Approver: isApprover}, tui.Options{Now: now})
func Serve(s ssh.Session, svc Backend, viewer Viewer, opts Options) error {
	pty, winCh, ok := s.Pty()
	if !ok {
		fmt.Fprintln(s.Stderr(), "keyturn: "+ErrNoPTY.Error()[len("tui: "):])
		return ErrNoPTY
	}
	ctx, cancel := context.WithCancel(s.Context())
	defer cancel()

	env := sessionEnv(s.Environ(), pty.Term)
	r := newRenderer(s, env)
	opts.Renderer = r
	opts.Width, opts.Height = pty.Window.Width, pty.Window.Height
	m := New(ctx, svc, viewer, opts)
	p := tea.NewProgram(m,
		tea.WithInput(s),
		tea.WithOutput(s),
		tea.WithContext(ctx),
		tea.WithEnvironment(env.Environ()),
		tea.WithAltScreen(),
		// Signals belong to the gate's process, not to one session.
		tea.WithoutSignalHandler(),
	)
	go forwardWindow(ctx, p, winCh)
	if opts.Stopping != nil {
		go func() {
			select {
			case <-opts.Stopping:
				p.Send(StoppingMsg{})
			case <-ctx.Done():
			}
		}()
	}

	final, err := p.Run()
	if fm, ok := final.(Model); ok && fm.stopping {
		fmt.Fprint(s.Stderr(), "keyturn: the gate is shutting down; the console was closed. Reconnect once it is back.\r\n")
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // the session ended: nothing went wrong in the console
	}
	if err != nil {
		return fmt.Errorf("tui for %s: %w", viewer.Name, err)
	}
	return nil
}

// forwardWindow sends the client's window changes to p until ctx ends.
func forwardWindow(ctx context.Context, p *tea.Program, winCh <-chan ssh.Window) {
	for {
		select {
		case <-ctx.Done():
			return
		case w, ok := <-winCh:
			if !ok {
				return
			}
			p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		}
	}
}

// env is a session's environment for termenv: what the client sent, with
// TERM from the PTY request (where SSH carries it) rather than from the
// gate's own process.
type env []string

func sessionEnv(environ []string, term string) env {
	e := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "TERM=")
	})
	if term == "" {
		term = "xterm"
	}
	return append(e, "TERM="+term)
}

func (e env) Environ() []string { return slices.Clone(e) }

func (e env) Getenv(k string) string {
	for i := len(e) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// newRenderer builds the session's renderer: its colour profile is read
// from the session's environment (TERM, COLORTERM, NO_COLOR), never from
// the gate's. The background is assumed dark rather than queried, since a
// query would wait on the client's answer mixed into its keystrokes.
func newRenderer(w io.Writer, e env) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(w, termenv.WithEnvironment(e), termenv.WithUnsafe(), termenv.WithTTY(true))
	out := termenv.NewOutput(w, termenv.WithEnvironment(e), termenv.WithUnsafe(), termenv.WithTTY(true))
	r.SetColorProfile(out.EnvColorProfile())
	r.SetHasDarkBackground(true)
	return r
}
