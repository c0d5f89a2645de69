package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// onKey routes a key: an open input (the dialog, the filter, the code
// prompt) takes every key, so that q or a can be typed; then a pending
// confirmation; then the keys every view shares; then the view in front.
func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	switch {
	case m.dialog.open:
		if msg.Type == tea.KeyEsc {
			return m.closeDialog(), nil
		}
		var cmd tea.Cmd
		m.dialog, cmd = m.dialog.update(&m.s, msg)
		return m, cmd
	case m.filter.typing:
		m.filter = m.filter.update(msg)
		return m, nil
	case m.view == viewRegister && m.register.typing():
		if msg.Type == tea.KeyEsc {
			m.register.code.blur()
			m.view = viewQueue
			return m, nil
		}
		var cmd tea.Cmd
		m.register, cmd = m.register.update(&m.s, msg)
		return m, cmd
	}
	if m.confirm != "" {
		id := m.confirm
		m.confirm = ""
		if msg.String() == "y" {
			m.setFlash("cancelling "+id+"…", false)
			return m, cancelCmd(m.s.ctx, m.s.svc, id, m.s.viewer.Name)
		}
		m.setFlash("not cancelled", false)
		return m, nil
	}
	// A result or error from the last action is stale once the next
	// key is pressed.
	m.setFlash("", false)
	k := m.s.keys
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
		if key.Matches(msg, k.Back) {
			m.view = viewQueue
			return m, nil
		}
		var cmd tea.Cmd
		m.register, cmd = m.register.update(&m.s, msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) queueKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.s.keys
	rows := m.queue.rows(&m.s, m.filter.spec)
	r, ok := m.queue.selected(&m.s, rows)
	switch {
	case key.Matches(msg, k.Open):
		if ok {
			return m.open(r.ID)
		}
	case key.Matches(msg, k.Approve), key.Matches(msg, k.Reject):
		if !m.s.viewer.Approver || !ok {
			return m, nil
		}
		m, _ = m.open(r.ID)
		m = m.openDialog(key.Matches(msg, k.Approve))
		return m, eventsCmd(m.s.ctx, m.s.svc, m.detail.id)
	case key.Matches(msg, k.Cancel):
		if ok {
			m.queue.cursorID = r.ID
			return m.startCancel()
		}
	case key.Matches(msg, k.History):
		m.view = viewHistory
	case key.Matches(msg, k.Filter):
		m.filter = m.filter.start()
	case key.Matches(msg, k.Back):
		m.filter = m.filter.clear()
	case key.Matches(msg, k.Register):
		return m.startRegister()
	default:
		m.queue = m.queue.update(&m.s, rows, msg)
	}
	return m, nil
}

func (m Model) historyKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.s.keys
	rows := m.history.rows(&m.s, m.filter.spec)
	switch {
	case key.Matches(msg, k.Open):
		if r, ok := m.history.selected(rows); ok {
			return m.open(r.ID)
		}
	case key.Matches(msg, k.History), key.Matches(msg, k.Back) && m.filter.spec.empty():
		m.view = viewQueue
	case key.Matches(msg, k.Back):
		m.filter = m.filter.clear()
	case key.Matches(msg, k.Filter):
		m.filter = m.filter.start()
	default:
		m.history = m.history.update(&m.s, rows, msg)
	}
	return m, nil
}

func (m Model) detailKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.s.keys
	switch {
	case key.Matches(msg, k.Back):
		m.view = m.back
		m.detail.id = ""
	case key.Matches(msg, k.Approve), key.Matches(msg, k.Reject):
		if m.s.viewer.Approver {
			return m.openDialog(key.Matches(msg, k.Approve)), nil
		}
	case key.Matches(msg, k.Cancel):
		return m.startCancel()
	default:
		m.detail = m.detail.update(k, msg)
	}
	return m, nil
}

// open shows request id's detail view and fetches its audit trail.
func (m Model) open(id string) (Model, tea.Cmd) {
	if m.view != viewDetail {
		m.back = m.view
	}
	m.view = viewDetail
	m.detail = m.detail.opened(id)
	m.refreshDetail()
	return m, eventsCmd(m.s.ctx, m.s.svc, id)
}

// openDialog opens the vote form on the detail view's request. One's own
// request is refused here, at once, rather than after a code is typed.
func (m Model) openDialog(approve bool) Model {
	if m.detail.id == "" {
		return m
	}
	if r, ok := m.s.reqs[m.detail.id]; ok && r.Requester == m.s.viewer.Name {
		m.setFlash(ownRequest(), true)
		return m
	}
	m.dialog = newDialog(&m.s, m.detail.id, approve)
	m.setFlash("", false)
	m.resize()
	return m
}

func (m Model) closeDialog() Model {
	m.dialog = dialogModel{}
	m.resize()
	return m
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

func (m Model) startRegister() (tea.Model, tea.Cmd) {
	if !m.s.viewer.Approver || m.register.state == regRegistered {
		return m, nil
	}
	m.view = viewRegister
	return m, nil
}

// activeKeys is the KeyMap with the bindings that do nothing here
// disabled, so the help bar shows only what works.
func (m Model) activeKeys() KeyMap {
	k := m.s.keys
	viewer, open := m.s.viewer, m.dialog.open
	onList := m.view == viewQueue || m.view == viewHistory
	inQueueOrDetail := m.view == viewQueue || m.view == viewDetail
	k.Up.SetEnabled(!open)
	k.Down.SetEnabled(!open)
	k.PageUp.SetEnabled(!open)
	k.PageDown.SetEnabled(!open)
	k.Open.SetEnabled(onList)
	k.Back.SetEnabled(m.view != viewQueue || !m.filter.spec.empty())
	// Offer a vote or a cancel only on a request that could take one; the
	// service still decides whether it counts.
	sel, ok := m.selected()
	live := ok && inQueueOrDetail && !open && shownStatus(sel, m.s.now()) == mpa.StatusPending.String()
	k.Approve.SetEnabled(viewer.Approver && live)
	k.Reject.SetEnabled(viewer.Approver && live)
	k.Cancel.SetEnabled(ok && inQueueOrDetail && !open && sel.Requester == viewer.Name &&
		(sel.Status == mpa.StatusPending || sel.Status == mpa.StatusApproved))
	k.History.SetEnabled(onList)
	if m.view == viewHistory {
		k.History.SetHelp("tab", "queue")
	}
	k.Register.SetEnabled(viewer.Approver && m.register.state == regNone && m.view != viewRegister)
	k.Filter.SetEnabled(onList)
	if m.view == viewRegister {
		k.Up.SetEnabled(false)
		k.Down.SetEnabled(false)
		k.PageUp.SetEnabled(false)
		k.PageDown.SetEnabled(false)
		switch m.register.state {
		case regNone:
			k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "issue secret"))
		case regIssued:
			k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm code"))
			k.Quit = key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit"))
			k.Help.SetEnabled(false)
		}
	}
	if open {
		k.Open = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "submit"))
		k.Back = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close"))
		k.Up = key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field"))
		k.Quit = key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit"))
		k.Help.SetEnabled(false)
	}
	return k
}
