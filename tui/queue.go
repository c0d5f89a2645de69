package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// upsert records r, unless it is older than the state already held (the
// history's List and the subscription may deliver out of order), and keeps
// the queue sorted by expiry.
func (m *Model) upsert(r mpa.Request) {
	old, ok := m.reqs[r.ID]
	if ok && r.Updated.Before(old.Updated) {
		return
	}
	if ok && m.queued(old) {
		m.queue = removeSorted(m.queue, old)
	}
	nr := r
	m.reqs[r.ID] = &nr
	if !m.visible(&nr) {
		return
	}
	if m.queued(&nr) {
		i, _ := slices.BinarySearchFunc(m.queue, &nr, byExpiry)
		m.queue = slices.Insert(m.queue, i, &nr)
		if m.cursorID == "" {
			m.cursorID = nr.ID
		}
	}
}

// queued reports whether r belongs in the queue: pending, visible to the
// viewer, and not yet past its expiry (the service marks it Expired only
// when it is next read or swept).
func (m *Model) queued(r *mpa.Request) bool {
	return r.Status == mpa.StatusPending && m.visible(r) &&
		(r.ExpiresAt.IsZero() || m.now().Before(r.ExpiresAt))
}

// byExpiry orders the queue: soonest expiry first, then by id so the
// order is total.
func byExpiry(a, b *mpa.Request) int {
	if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func removeSorted(q []*mpa.Request, r *mpa.Request) []*mpa.Request {
	i, found := slices.BinarySearchFunc(q, r, byExpiry)
	if found {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// expireQueue drops the requests whose expiry has passed. The queue is
// sorted by expiry, so they are all at its front.
func (m *Model) expireQueue() {
	now := m.now()
	n := 0
	for n < len(m.queue) && !m.queue[n].ExpiresAt.IsZero() && !now.Before(m.queue[n].ExpiresAt) {
		n++
	}
	if n > 0 {
		m.queue = slices.Delete(m.queue, 0, n)
	}
}

// queueRows is the queue as filtered; without a filter it is the queue
// itself, not a copy.
func (m Model) queueRows() []*mpa.Request {
	if m.spec.empty() {
		return m.queue
	}
	var out []*mpa.Request
	now := m.now()
	for _, r := range m.queue {
		if m.spec.match(r, now) {
			out = append(out, r)
		}
	}
	return out
}

// indexOf finds id in rows; -1 if absent. On the unfiltered queue it is a
// binary search.
func (m Model) indexOf(rows []*mpa.Request, id string) int {
	r, ok := m.reqs[id]
	if !ok {
		return -1
	}
	if m.spec.empty() && len(rows) == len(m.queue) {
		if i, found := slices.BinarySearchFunc(rows, r, byExpiry); found {
			return i
		}
		return -1
	}
	return slices.IndexFunc(rows, func(x *mpa.Request) bool { return x.ID == id })
}

// move returns the id at the cursor moved by delta within rows.
func (m Model) move(rows []*mpa.Request, id string, delta int) string {
	if len(rows) == 0 {
		return ""
	}
	i := m.indexOf(rows, id)
	if i < 0 {
		i = 0
	} else {
		i = min(max(i+delta, 0), len(rows)-1)
	}
	return rows[i].ID
}

func (m Model) queueKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	rows := m.queueRows()
	page := m.bodyHeight() - 1
	switch {
	case key.Matches(msg, k.Up):
		m.cursorID = m.move(rows, m.cursorID, -1)
	case key.Matches(msg, k.Down):
		m.cursorID = m.move(rows, m.cursorID, 1)
	case key.Matches(msg, k.PageUp):
		m.cursorID = m.move(rows, m.cursorID, -page)
	case key.Matches(msg, k.PageDown):
		m.cursorID = m.move(rows, m.cursorID, page)
	case key.Matches(msg, k.Open):
		if i := m.cursorIndex(rows); i >= 0 {
			return m.open(rows[i].ID)
		}
	case key.Matches(msg, k.Approve), key.Matches(msg, k.Reject):
		if !m.viewer.Approver {
			return m, nil
		}
		i := m.cursorIndex(rows)
		if i < 0 {
			return m, nil
		}
		m, _ = m.open(rows[i].ID)
		var cmd tea.Cmd
		m, cmd = m.openDialog(key.Matches(msg, k.Approve))
		return m, tea.Batch(cmd, eventsCmd(m.ctx, m.svc, m.detailID))
	case key.Matches(msg, k.Cancel):
		if i := m.cursorIndex(rows); i >= 0 {
			m.cursorID = rows[i].ID
			return m.startCancel()
		}
	case key.Matches(msg, k.History):
		m.view = viewHistory
	case key.Matches(msg, k.Filter):
		return m.startFilter()
	case key.Matches(msg, k.Back):
		m.clearFilter()
	case key.Matches(msg, k.Register):
		return m.startRegister()
	}
	return m, nil
}

// cursorIndex is the cursor's row, falling back to the first row when
// the selected request left the list.
func (m Model) cursorIndex(rows []*mpa.Request) int {
	if len(rows) == 0 {
		return -1
	}
	if i := m.indexOf(rows, m.cursorID); i >= 0 {
		return i
	}
	return 0
}

// column is one column of a list: its title, a width, and whether it
// takes a share of the width left over.
type column struct {
	title string
	width int
	flex  bool
	// want is the width a flex column grows to before the others share
	// what is left: "rejected by carol" reads whole at 100 columns.
	want int
}

// layout sizes cols to width, dropping the columns at the end of drop
// (least useful first) until the fixed ones fit, then sharing what is
// left among the flexible ones.
func layout(cols []column, width int, drop []int) []column {
	cols = slices.Clone(cols)
	need := func() int {
		n := 0
		for _, c := range cols {
			if c.width > 0 {
				n += c.width + 1
			}
		}
		return n
	}
	for _, d := range drop {
		if need() <= width {
			break
		}
		cols[d].width = 0
	}
	spare := width - need()
	for i := range cols {
		if cols[i].flex && cols[i].width > 0 && cols[i].want > cols[i].width && spare > 0 {
			grow := min(cols[i].want-cols[i].width, spare)
			cols[i].width += grow
			spare -= grow
		}
	}
	var flex []int
	for i, c := range cols {
		if c.flex && c.width > 0 {
			flex = append(flex, i)
		}
	}
	for j, i := range flex {
		if spare <= 0 {
			break
		}
		share := spare / (len(flex) - j)
		cols[i].width += share
		spare -= share
	}
	return cols
}

func renderRow(cols []column, cells []string) string {
	var b strings.Builder
	first := true
	for i, c := range cols {
		if c.width <= 0 {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(pad(cells[i], c.width))
	}
	return b.String()
}

var queueCols = []column{
	{title: "", width: 1},
	{title: "ID", width: 14},
	{title: "ACTION", width: 12, flex: true},
	{title: "TARGET", width: 8, flex: true},
	{title: "REQUESTER", width: 9, flex: true},
	{title: "AGE", width: 5},
	{title: "APPR", width: 4},
	{title: "EXPIRES", width: 7},
}

// queueDrop lists the columns to give up on a narrow terminal: age, then
// requester, then target. The id, action, approvals and expiry stay.
var queueDrop = []int{5, 4, 3}

func (m Model) queueView() string {
	rows := m.queueRows()
	h := m.bodyHeight()
	cols := layout(queueCols, m.width, queueDrop)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	lines := []string{m.st.header.Render(renderRow(cols, titles))}
	if len(rows) == 0 {
		msg := "No pending requests."
		if !m.viewer.Approver {
			msg = "You have no pending requests."
		}
		if !m.spec.empty() {
			msg = "No pending request matches the filter."
		}
		lines = append(lines, m.st.dim.Render(msg))
		return strings.Join(lines, "\n")
	}
	page := max(1, h-1)
	cur := m.cursorIndex(rows)
	top := cur / page * page
	now := m.now()
	ownShown, notForMe := false, false
	for i := top; i < min(len(rows), top+page); i++ {
		r := rows[i]
		mark := " "
		if r.Requester == m.viewer.Name && m.viewer.Approver {
			mark = "*" // the viewer's own: another approver must decide
			ownShown = true
		} else if m.cannotHelp(r) {
			mark = "-" // its approvers rule needs other groups than the viewer's
			notForMe = true
		}
		cells := []string{
			mark, r.ID, actionNames(r), r.Target, r.Requester,
			short(now.Sub(r.Created)),
			fmt.Sprintf("%d/%d", len(r.Approvals), r.RequiredApprovals),
			until(now, r.ExpiresAt),
		}
		line := renderRow(cols, cells)
		switch {
		case i == cur:
			line = m.st.selected.Render(pad(line, m.width))
		case mark == "*":
			line = m.st.own.Render(line)
		case mark == "-":
			line = m.st.dim.Render(line)
		}
		lines = append(lines, line)
	}
	// The header's right end says what the mark means and where the page
	// is, so rows past the screen are not a surprise.
	var notes []string
	if ownShown {
		notes = append(notes, "* yours: not yours to approve")
	}
	if notForMe {
		notes = append(notes, "- needs other groups than yours")
	}
	if len(rows) > page {
		notes = append(notes, fmt.Sprintf("%d-%d of %d", top+1, min(len(rows), top+page), len(rows)))
	}
	if len(notes) > 0 {
		note := strings.Join(notes, " · ")
		head := strings.TrimRight(renderRow(cols, titles), " ")
		if w := m.width - len([]rune(note)) - 1; w > len(head) {
			lines[0] = m.st.header.Render(pad(head, w)) + " " + m.st.dim.Render(note)
		}
	}
	return strings.Join(lines, "\n")
}

// actionNames joins a request's action names ("kill_process").
func actionNames(r *mpa.Request) string {
	names := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		names[i] = a.Name
	}
	if len(names) == 0 {
		return string(r.Kind)
	}
	return strings.Join(names, ",")
}

// ownNote explains the mark on the viewer's own requests.
func ownNote(r *mpa.Request, viewer string) string {
	if r.Requester == viewer {
		return "your own request: another approver must decide it"
	}
	return ""
}
