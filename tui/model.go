package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

// Options configures [New]. Zero fields take the documented defaults.
type Options struct {
	// Renderer draws the styles; the session's own in [Serve]. Nil uses
	// lipgloss's default renderer (the process's stdout), which is right
	// only in tests.
	Renderer *lipgloss.Renderer
	// Now is the clock for ages and countdowns; time.Now by default.
	Now func() time.Time
	// Width and Height are the terminal's size until the first
	// tea.WindowSizeMsg; 80x24 by default.
	Width, Height int
	// Stopping, if set, is closed when the gate begins to shut down: an
	// idle console closes at once; one with a vote being typed says so
	// and stays until the vote is sent or the grace period ends.
	Stopping <-chan struct{}
	// PolicyProblem, if set, says what is wrong with policies.yaml on
	// disk ("" when nothing is): approvers see it in a banner, since the
	// gate keeps enforcing the last good policy meanwhile.
	PolicyProblem func() string
}

type view int

const (
	viewQueue view = iota
	viewHistory
	viewDetail
	viewRegister
)

// Model is the console's root Bubble Tea model. Build it with [New];
// [Serve] runs one per SSH session.
//
// It holds the state the views share (shared.go) and one model per view:
// queue, history, detail, the approve / reject dialog, registration and
// the filter. It routes each message: the service's answers change the
// shared state, keys go to the view in front, and the keys that move
// between views (open, back, tab, a, r, c, g, /) are the root's.
type Model struct {
	s    shared
	help help.Model
	// height is the terminal's; the views get what is left of it (s.body).
	height int
	// policyProblem reads what is wrong with policies.yaml on disk.
	policyProblem func() string
	// stopping is set once the gate began to shut down.
	stopping bool

	view view
	back view // where esc goes from the detail view

	queue    queueModel
	history  historyModel
	detail   detailModel
	dialog   dialogModel
	register registerModel
	filter   filterModel

	confirm  string // id whose cancellation awaits y
	watchErr error  // why the live updates stopped
	flash    string // the last action's result or error
	flashErr bool
}

// New returns the console for viewer over svc. ctx bounds every call the
// console makes; cancel it when the session ends.
func New(ctx context.Context, svc Backend, viewer Viewer, opts Options) Model {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Width <= 0 {
		opts.Width = 80
	}
	if opts.Height <= 0 {
		opts.Height = 24
	}
	st := newStyles(r)
	h := help.New()
	h.Styles = st.help
	m := Model{
		s: shared{
			ctx: ctx, svc: svc, viewer: viewer, now: opts.Now,
			st: st, keys: DefaultKeyMap(), width: opts.Width,
			reqs: map[string]*mpa.Request{},
		},
		help:          h,
		height:        opts.Height,
		policyProblem: opts.PolicyProblem,
		detail:        detailModel{vp: viewport.New(opts.Width, 1)},
		register:      newRegister(st),
		filter:        newFilter(st),
	}
	m.resize()
	return m
}

// Init starts the subscription, loads the history and, for an approver,
// their registration state.
func (m Model) Init() tea.Cmd {
	s := &m.s
	cmds := []tea.Cmd{watchCmd(s.ctx, s.svc), listCmd(s.ctx, s.svc, s.viewer), tickCmd()}
	if s.viewer.Approver {
		cmds = append(cmds, approverCmd(s.ctx, s.svc, s.viewer.Name))
	}
	return tea.Batch(cmds...)
}

// Update handles one message. It does no I/O: calls to the Backend are
// returned as commands.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	s := &m.s
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		s.width, m.height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case tickMsg:
		s.expireQueue()
		m.refreshDetail()
		return m, tickCmd()
	case watchStartedMsg:
		return m, nextCmd(msg.ch)
	case requestMsg:
		m.upsert(msg.r)
		if msg.r.ID == m.detail.id {
			m.refreshDetail()
			// The trail grew with this change; fetch it again.
			return m, tea.Batch(nextCmd(msg.ch), eventsCmd(s.ctx, s.svc, m.detail.id))
		}
		return m, nextCmd(msg.ch)
	case watchEndedMsg:
		m.watchErr = msg.err
		if m.watchErr == nil && s.ctx.Err() == nil {
			m.watchErr = errors.New("subscription closed")
		}
		return m, nil
	case listedMsg:
		if msg.err != nil {
			m.setFlash("history: "+describe(msg.err), true)
			return m, nil
		}
		for _, r := range msg.reqs {
			m.upsert(r)
		}
		m.history.listed = true
		return m, nil
	case eventsMsg:
		if msg.id == m.detail.id {
			m.detail = m.detail.loaded(msg)
			m.refreshDetail()
		}
		return m, nil
	case approverMsg:
		return m.onApprover(msg)
	case voteMsg:
		var cmd tea.Cmd
		m, cmd = m.onVote(msg)
		if m.stopping && !m.dialog.open {
			return m, tea.Batch(cmd, tea.Quit)
		}
		return m, cmd
	case cancelMsg:
		if msg.err != nil {
			m.setFlash("cancel "+msg.id+": "+describe(msg.err), true)
			return m, nil
		}
		m.upsert(msg.r)
		m.setFlash("cancelled "+msg.id, false)
		return m, nil
	case registrationMsg:
		m.register = m.register.issued(msg)
		return m, nil
	case registeredMsg:
		var done bool
		m.register, done = m.register.confirmed(msg)
		if done {
			m.view = viewQueue
			m.setFlash(m.register.nextCode(), false)
		}
		return m, nil
	case tea.KeyMsg:
		return m.onKey(msg)
	case StoppingMsg:
		m.stopping = true
		if m.dialog.open {
			m.setFlash("the gate is shutting down: send your vote now; the console closes after it", true)
			return m, nil
		}
		return m, tea.Quit
	}
	return m, nil
}

// StoppingMsg tells the console the gate is shutting down.
type StoppingMsg struct{}

// upsert records r in the shared state; the first request queued gets the
// queue's cursor.
func (m *Model) upsert(r mpa.Request) {
	if m.s.upsert(r) && m.queue.cursorID == "" {
		m.queue.cursorID = r.ID
	}
}

// onApprover learns where the viewer is in registration. An approver with
// no secret in force is taken to the registration view first, since they
// can decide nothing until they have one.
func (m Model) onApprover(msg approverMsg) (tea.Model, tea.Cmd) {
	reg, err := m.register.learned(msg)
	if err != nil {
		m.setFlash("registration state: "+describe(err), true)
		return m, nil
	}
	m.register = reg
	if reg.needed() {
		m.view = viewRegister
	}
	return m, nil
}

// onVote shows the service's answer to a vote: in the dialog if refused,
// in the status line if counted.
func (m Model) onVote(msg voteMsg) (Model, tea.Cmd) {
	if !m.dialog.open || msg.id != m.dialog.id {
		return m, nil // the dialog was closed; the service's answer stands
	}
	if msg.err != nil {
		m.dialog = m.dialog.refused(msg.err)
		return m, nil
	}
	m.upsert(msg.r)
	m = m.closeDialog()
	if msg.approve {
		s := fmt.Sprintf("approved %s: %d of %d approvals", msg.id, len(msg.r.Approvals), msg.r.RequiredApprovals)
		if msg.r.Status != mpa.StatusPending {
			s += ", now " + msg.r.Status.String()
		}
		m.setFlash(s, false)
	} else {
		m.setFlash("rejected "+msg.id, false)
	}
	m.refreshDetail()
	return m, eventsCmd(m.s.ctx, m.s.svc, msg.id)
}

func (m *Model) setFlash(s string, isErr bool) { m.flash, m.flashErr = s, isErr }

// helpHeight is how many lines the help bar takes.
func (m Model) helpHeight() int {
	if m.help.ShowAll {
		return 4
	}
	return 1
}

func (m *Model) resize() {
	m.s.body = max(1, m.height-2-m.helpHeight())
	m.help.Width = m.s.width
	m.filter.input.width = max(10, m.s.width-len(m.filter.input.prompt)-2)
	m.refreshDetail()
}

// detailHeight is the detail viewport's height: the body less the
// dialog, when open, and the scroll line.
func (m Model) detailHeight() int {
	h := m.s.body - 1
	if m.dialog.open {
		h -= lipgloss.Height(m.dialog.view(&m.s))
	}
	return max(1, h)
}

// refreshDetail sizes the detail view and redraws it if it is shown.
func (m *Model) refreshDetail() {
	m.detail.refresh(&m.s, m.detailHeight(), m.view == viewDetail)
}

// View draws the title line, the current view, the status line and the
// help bar, in exactly the terminal's height.
func (m Model) View() string {
	s := &m.s
	body := ""
	switch m.view {
	case viewQueue:
		body = m.queue.view(s, m.filter.spec)
	case viewHistory:
		body = m.history.view(s, m.filter.spec)
	case viewDetail:
		body = m.detail.view(s)
		if m.dialog.open {
			body += "\n" + m.dialog.view(s)
		}
	case viewRegister:
		body = m.register.view(s)
	}
	var b strings.Builder
	b.WriteString(m.titleLine())
	b.WriteByte('\n')
	b.WriteString(fitHeight(body, s.body))
	b.WriteByte('\n')
	b.WriteString(m.statusLine())
	b.WriteByte('\n')
	// help cuts at an item boundary but can still overrun by an item;
	// a frame line wider than the terminal would wrap and shift the rest.
	for i, l := range strings.Split(m.help.View(m.activeKeys()), "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(truncate(l, s.width))
	}
	return b.String()
}

func (m Model) titleLine() string {
	s := &m.s
	role := "requester"
	if s.viewer.Approver {
		role = "approver"
		if st := m.register.state; st != regRegistered && st != regUnknown {
			role = "approver, not registered"
		}
	}
	left := s.st.title.Render("keyturn") + " " + m.viewTitle()
	right := fmt.Sprintf("%s (%s)", s.viewer.Name, role)
	gap := s.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return truncate(left+" "+right, s.width)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) viewTitle() string {
	switch m.view {
	case viewQueue:
		return fmt.Sprintf("queue · %d pending", len(m.s.queue))
	case viewHistory:
		return "history"
	case viewDetail:
		return "request " + m.detail.id
	case viewRegister:
		return "TOTP registration"
	}
	return ""
}

// statusLine shows, by priority, the filter being typed, a pending
// confirmation, the last result, or a lost subscription.
func (m Model) statusLine() string {
	st, w := m.s.st, m.s.width
	switch {
	case m.filter.typing:
		return m.filter.input.view()
	case m.confirm != "":
		return st.warn.Render(truncate("cancel "+m.confirm+"? y to confirm, any other key to keep it", w))
	case m.flash != "":
		if m.flashErr {
			return st.err.Render(truncate(m.flash, w))
		}
		return st.ok.Render(truncate(m.flash, w))
	case m.s.viewer.Approver && m.policyProblem != nil && m.policyProblem() != "":
		return st.warn.Render(truncate("policies.yaml on disk is broken; the last good policy stays in force: "+m.policyProblem(), w))
	case m.watchErr != nil:
		return st.err.Render(truncate("live updates stopped: "+describe(m.watchErr)+"; reopen the console", w))
	case !m.filter.spec.empty():
		return st.dim.Render(truncate("filter: "+m.filter.spec.raw+" (/ to change, esc to clear)", w))
	}
	return ""
}

// selected returns the request the current view's cursor is on.
func (m Model) selected() (*mpa.Request, bool) {
	var id string
	switch m.view {
	case viewQueue:
		id = m.queue.cursorID
	case viewHistory:
		id = m.history.selID
	case viewDetail:
		id = m.detail.id
	}
	r, ok := m.s.reqs[id]
	return r, ok && id != ""
}

// ownRequest is the sentence for a vote on one's own request, as the
// service would refuse it.
func ownRequest() string {
	s, _ := mpawords.Error(mpa.ErrSelfApproval, exitcode.Command, mpawords.Subject{})
	return s
}
