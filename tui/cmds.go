package tui

import (
	"bytes"
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

// The commands are the console's only I/O. Each takes the session context
// so that a call still running when the session ends is cancelled.

func watchCmd(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ch, err := b.WatchAll(ctx)
		if err != nil {
			return watchEndedMsg{err: err}
		}
		return watchStartedMsg{ch: ch}
	}
}

// nextCmd reads one request from the subscription; Update re-arms it after
// each message, so the queue is pushed by the store and never polled.
func nextCmd(ch <-chan mpa.Request) tea.Cmd {
	return func() tea.Msg {
		r, ok := <-ch
		if !ok {
			return watchEndedMsg{}
		}
		return requestMsg{r: r, ch: ch}
	}
}

// listCmd loads the stored requests for the history: all of them for an
// approver, only their own for anyone else.
func listCmd(ctx context.Context, b Backend, v Viewer) tea.Cmd {
	f := mpa.ListFilter{}
	if !v.Approver {
		f.Requester = v.Name
	}
	return func() tea.Msg {
		reqs, err := b.List(ctx, f)
		return listedMsg{reqs: reqs, err: err}
	}
}

func eventsCmd(ctx context.Context, b Backend, id string) tea.Cmd {
	return func() tea.Msg {
		var out []audit.Event
		for e, err := range b.AuditEvents(ctx, audit.Filter{Request: id}) {
			if err != nil {
				return eventsMsg{id: id, err: err}
			}
			out = append(out, e)
		}
		msg := eventsMsg{id: id, events: out}
		msg.output, msg.outputErr = loadOutput(ctx, b, id, out)
		msg.progress, msg.progressErr = loadProgress(ctx, b, id)
		return msg
	}
}

func approverCmd(ctx context.Context, b Backend, name string) tea.Cmd {
	return func() tea.Msg {
		a, err := b.Approver(ctx, name)
		return approverMsg{a: a, err: err}
	}
}

func voteCmd(ctx context.Context, b Backend, id, user string, approve bool, in mpa.VoteInput) tea.Cmd {
	return func() tea.Msg {
		var r mpa.Request
		var err error
		if approve {
			r, err = b.Approve(ctx, id, user, in)
		} else {
			r, err = b.Reject(ctx, id, user, in)
		}
		return voteMsg{id: id, approve: approve, r: r, err: err}
	}
}

func cancelCmd(ctx context.Context, b Backend, id, user string) tea.Cmd {
	return func() tea.Msg {
		r, err := b.Cancel(ctx, id, user)
		return cancelMsg{id: id, r: r, err: err}
	}
}

func initiateCmd(ctx context.Context, b Backend, user string) tea.Cmd {
	return func() tea.Msg {
		reg, err := b.InitiateRegistration(ctx, user, false)
		if err != nil {
			return registrationMsg{err: err}
		}
		var buf bytes.Buffer
		mpawords.QR(&buf, reg.URL)
		return registrationMsg{reg: reg, qr: buf.String()}
	}
}

func completeCmd(ctx context.Context, b Backend, user, code string) tea.Cmd {
	return func() tea.Msg {
		a, held, err := b.CompleteRegistration(ctx, user, code)
		return registeredMsg{a: a, held: held, err: err}
	}
}

func tickCmd() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}
