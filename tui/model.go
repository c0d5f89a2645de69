package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
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

// regState is where the viewer is in TOTP registration, as far as the
// console knows.
type regState int

const (
	regUnknown    regState = iota // not asked yet, or not an approver
	regNone                       // an approver with no secret in force
	regIssued                     // a secret was issued in this session; waiting for its code
	regHeld                       // the code was confirmed; other approvers must approve
	regRegistered                 // may approve
)

// Model is the console's Bubble Tea model. Build it with [New]; [Serve]
// runs one per SSH session.
type Model struct {
	// stopping is set once the gate began to shut down.
	stopping bool
	// policyProblem reads what is wrong with policies.yaml on disk.
	policyProblem func() string
	// ctx is the session's lifetime. It is kept only to hand to commands,
	// so that their Backend calls end with the session; the model itself
	// never blocks on it.
	ctx    context.Context
	svc    Backend
	viewer Viewer
	now    func() time.Time
	st     styles
	keys   KeyMap
	help   help.Model

	width, height int
	view          view
	back          view // where esc goes from the detail view

	// reqs is every request seen, by id. queue holds the pending ones the
	// viewer may see, sorted by expiry then id, so an update moves one
	// entry rather than re-sorting 10,000.
	reqs  map[string]*mpa.Request
	queue []*mpa.Request

	cursorID  string // the selected request in the queue
	histID    string // the selected request in the history
	watchErr  error
	listed    bool
	filter    field
	filtering bool
	spec      filterSpec

	detailID  string
	events    []audit.Event
	eventsErr error
	output    *mpa.StoredOutput
	outputErr error
	// progress is the detail request's approvers rule lines (groups.go).
	progress    *mpa.Progress
	progressErr error
	vp          viewport.Model

	dialog     dialog
	dialogOpen bool
	confirm    string // id whose cancellation awaits y

	reg      regState
	approver mpa.Approver
	regInfo  mpa.Registration
	regQR    string
	regCode  field
	regMsg   string
	regErr   string

	flash    string
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
		ctx: ctx, svc: svc, viewer: viewer, now: opts.Now,
		st: st, keys: DefaultKeyMap(), help: h,
		width: opts.Width, height: opts.Height,
		policyProblem: opts.PolicyProblem,
		reqs:          map[string]*mpa.Request{},
		filter:        newField(st, "filter: ", false),
		regCode:       newField(st, "code: ", true),
		vp:            viewport.New(opts.Width, 1),
	}
	m.regCode.limit = 8
	m.filter.placeholder = "text status:rejected action:kill target:web"
	m.resize()
	return m
}

// Init starts the subscription, loads the history and, for an approver,
// their registration state.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{watchCmd(m.ctx, m.svc), listCmd(m.ctx, m.svc, m.viewer), tickCmd()}
	if m.viewer.Approver {
		cmds = append(cmds, approverCmd(m.ctx, m.svc, m.viewer.Name))
	}
	return tea.Batch(cmds...)
}

// Update handles one message. It does no I/O: calls to the Backend are
// returned as commands.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case tickMsg:
		m.expireQueue()
		m.refreshDetail()
		return m, tickCmd()
	case watchStartedMsg:
		return m, nextCmd(msg.ch)
	case requestMsg:
		m.upsert(msg.r)
		if msg.r.ID == m.detailID {
			m.refreshDetail()
			// The trail grew with this change; fetch it again.
			return m, tea.Batch(nextCmd(msg.ch), eventsCmd(m.ctx, m.svc, m.detailID))
		}
		return m, nextCmd(msg.ch)
	case watchEndedMsg:
		m.watchErr = msg.err
		if m.watchErr == nil && m.ctx.Err() == nil {
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
		m.listed = true
		return m, nil
	case eventsMsg:
		if msg.id == m.detailID {
			m.events, m.eventsErr = msg.events, msg.err
			m.output, m.outputErr = msg.output, msg.outputErr
			m.progress, m.progressErr = msg.progress, msg.progressErr
			m.refreshDetail()
		}
		return m, nil
	case approverMsg:
		return m.onApprover(msg)
	case voteMsg:
		next, cmd := m.onVote(msg)
		if nm, ok := next.(Model); ok && nm.stopping && !nm.dialogOpen {
			return nm, tea.Batch(cmd, tea.Quit)
		}
		return next, cmd
	case cancelMsg:
		if msg.err != nil {
			m.setFlash("cancel "+msg.id+": "+describe(msg.err), true)
			return m, nil
		}
		m.upsert(msg.r)
		m.setFlash("cancelled "+msg.id, false)
		return m, nil
	case registrationMsg, registeredMsg:
		return m.updateRegister(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	case StoppingMsg:
		m.stopping = true
		if m.dialogOpen {
			m.setFlash("the gate is shutting down: send your vote now; the console closes after it", true)
			return m, nil
		}
		return m, tea.Quit
	}
	return m, nil
}

// StoppingMsg tells the console the gate is shutting down.
type StoppingMsg struct{}

func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	// An open input takes every key, so that q or a can be typed.
	switch {
	case m.dialogOpen:
		return m.dialogKey(msg)
	case m.filtering:
		return m.filterKey(msg)
	case m.view == viewRegister && m.reg == regIssued:
		return m.registerKey(msg)
	}
	if m.confirm != "" {
		id := m.confirm
		m.confirm = ""
		if msg.String() == "y" {
			m.setFlash("cancelling "+id+"…", false)
			return m, cancelCmd(m.ctx, m.svc, id, m.viewer.Name)
		}
		m.setFlash("not cancelled", false)
		return m, nil
	}
	// A result or error from the last action is stale once the next
	// key is pressed.
	m.setFlash("", false)
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.resize()
		return m, nil
	}
	switch m.view {
	case viewQueue:
		return m.queueKey(msg)
	case viewHistory:
		return m.historyKey(msg)
	case viewDetail:
		return m.detailKey(msg)
	case viewRegister:
		return m.registerKey(msg)
	}
	return m, nil
}

func (m *Model) setFlash(s string, isErr bool) { m.flash, m.flashErr = s, isErr }

// helpHeight is how many lines the help bar takes.
func (m Model) helpHeight() int {
	if m.help.ShowAll {
		return 4
	}
	return 1
}

// bodyHeight is the lines left for the current view between the title
// line and the status and help lines.
func (m Model) bodyHeight() int { return max(1, m.height-2-m.helpHeight()) }

func (m *Model) resize() {
	m.help.Width = m.width
	m.filter.width = max(10, m.width-len(m.filter.prompt)-2)
	m.vp.Width = m.width
	m.vp.Height = m.detailHeight()
	m.refreshDetail()
}

// View draws the title line, the current view, the status line and the
// help bar, in exactly m.height lines.
func (m Model) View() string {
	body := ""
	switch m.view {
	case viewQueue:
		body = m.queueView()
	case viewHistory:
		body = m.historyView()
	case viewDetail:
		body = m.detailView()
	case viewRegister:
		body = m.registerView()
	}
	var b strings.Builder
	b.WriteString(m.titleLine())
	b.WriteByte('\n')
	b.WriteString(fitHeight(body, m.bodyHeight()))
	b.WriteByte('\n')
	b.WriteString(m.statusLine())
	b.WriteByte('\n')
	// help cuts at an item boundary but can still overrun by an item;
	// a frame line wider than the terminal would wrap and shift the rest.
	for i, l := range strings.Split(m.help.View(m.activeKeys()), "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(truncate(l, m.width))
	}
	return b.String()
}

func (m Model) titleLine() string {
	role := "requester"
	if m.viewer.Approver {
		role = "approver"
		if m.reg != regRegistered && m.reg != regUnknown {
			role = "approver, not registered"
		}
	}
	left := m.st.title.Render("keyturn") + " " + m.viewTitle()
	right := fmt.Sprintf("%s (%s)", m.viewer.Name, role)
	gap := m.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return truncate(left+" "+right, m.width)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) viewTitle() string {
	switch m.view {
	case viewQueue:
		return fmt.Sprintf("queue · %d pending", len(m.queue))
	case viewHistory:
		return "history"
	case viewDetail:
		return "request " + m.detailID
	case viewRegister:
		return "TOTP registration"
	}
	return ""
}

// statusLine shows, by priority, the filter being typed, a pending
// confirmation, the last result, or a lost subscription.
func (m Model) statusLine() string {
	switch {
	case m.filtering:
		return m.filter.view()
	case m.confirm != "":
		return m.st.warn.Render(truncate("cancel "+m.confirm+"? y to confirm, any other key to keep it", m.width))
	case m.flash != "":
		if m.flashErr {
			return m.st.err.Render(truncate(m.flash, m.width))
		}
		return m.st.ok.Render(truncate(m.flash, m.width))
	case m.viewer.Approver && m.policyProblem != nil && m.policyProblem() != "":
		return m.st.warn.Render(truncate("policies.yaml on disk is broken; the last good policy stays in force: "+m.policyProblem(), m.width))
	case m.watchErr != nil:
		return m.st.err.Render(truncate("live updates stopped: "+describe(m.watchErr)+"; reopen the console", m.width))
	case !m.spec.empty():
		return m.st.dim.Render(truncate("filter: "+m.spec.raw+" (/ to change, esc to clear)", m.width))
	}
	return ""
}

// activeKeys is the KeyMap with the bindings that do nothing here
// disabled, so the help bar shows only what works.
func (m Model) activeKeys() KeyMap {
	k := m.keys
	onList := m.view == viewQueue || m.view == viewHistory
	inQueueOrDetail := m.view == viewQueue || m.view == viewDetail
	k.Up.SetEnabled(!m.dialogOpen)
	k.Down.SetEnabled(!m.dialogOpen)
	k.PageUp.SetEnabled(!m.dialogOpen)
	k.PageDown.SetEnabled(!m.dialogOpen)
	k.Open.SetEnabled(onList)
	k.Back.SetEnabled(m.view != viewQueue || !m.spec.empty())
	// Offer a vote or a cancel only on a request that could take one; the
	// service still decides whether it counts.
	sel, ok := m.selected()
	live := ok && inQueueOrDetail && !m.dialogOpen && shownStatus(sel, m.now()) == mpa.StatusPending.String()
	k.Approve.SetEnabled(m.viewer.Approver && live)
	k.Reject.SetEnabled(m.viewer.Approver && live)
	k.Cancel.SetEnabled(ok && inQueueOrDetail && !m.dialogOpen && sel.Requester == m.viewer.Name &&
		(sel.Status == mpa.StatusPending || sel.Status == mpa.StatusApproved))
	k.History.SetEnabled(onList)
	if m.view == viewHistory {
		k.History.SetHelp("tab", "queue")
	}
	k.Register.SetEnabled(m.viewer.Approver && m.reg == regNone && m.view != viewRegister)
	k.Filter.SetEnabled(onList)
	if m.view == viewRegister {
		k.Up.SetEnabled(false)
		k.Down.SetEnabled(false)
		k.PageUp.SetEnabled(false)
		k.PageDown.SetEnabled(false)
		switch m.reg {
		case regNone:
			k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "issue secret"))
		case regIssued:
			k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm code"))
			k.Quit = key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit"))
			k.Help.SetEnabled(false)
		}
	}
	if m.dialogOpen {
		k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "submit"))
		k.Back = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close"))
		k.Up = key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field"))
		k.Quit = key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit"))
		k.Help.SetEnabled(false)
	}
	return k
}

// selected returns the request the current view's cursor is on.
func (m Model) selected() (*mpa.Request, bool) {
	var id string
	switch m.view {
	case viewQueue:
		id = m.cursorID
	case viewHistory:
		id = m.histID
	case viewDetail:
		id = m.detailID
	}
	r, ok := m.reqs[id]
	return r, ok && id != ""
}

// visible reports whether the viewer may see r: approvers see every
// request, anyone else only their own.
func (m Model) visible(r *mpa.Request) bool {
	return m.viewer.Approver || r.Requester == m.viewer.Name
}

// open shows r's detail view and fetches its audit trail.
func (m Model) open(id string) (Model, tea.Cmd) {
	if m.view != viewDetail {
		m.back = m.view
	}
	m.view = viewDetail
	m.detailID = id
	m.events, m.eventsErr = nil, nil
	m.output, m.outputErr = nil, nil
	m.progress, m.progressErr = nil, nil
	m.vp.GotoTop()
	m.refreshDetail()
	return m, eventsCmd(m.ctx, m.svc, id)
}

// startCancel asks to confirm cancelling the selected request.
func (m Model) startCancel() (Model, tea.Cmd) {
	r, ok := m.selected()
	if !ok {
		return m, nil
	}
	m.confirm = r.ID
	return m, nil
}
