package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// historyRows is every request the viewer may see that is no longer
// waiting for votes (approved, running, or final), newest change first,
// as filtered.
func (m Model) historyRows() []*mpa.Request {
	now := m.now()
	var out []*mpa.Request
	for _, r := range m.reqs {
		if !m.visible(r) {
			continue
		}
		if r.Status == mpa.StatusPending && (r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt)) {
			continue
		}
		if m.spec.match(r, now) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *mpa.Request) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// shownStatus is r's status as the console shows it: a live request past
// its expiry is expired even before the service records it, as the
// service's own reads show it.
func shownStatus(r *mpa.Request, now time.Time) string {
	if (r.Status == mpa.StatusPending || r.Status == mpa.StatusApproved) &&
		!r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return mpa.StatusExpired.String()
	}
	return r.Status.String()
}

var historyCols = []column{
	{title: "ID", width: 14},
	{title: "STATUS", width: 11},
	{title: "ACTION", width: 10, flex: true},
	{title: "TARGET", width: 6, flex: true},
	{title: "REQUESTER", width: 9, flex: true},
	{title: "EXIT", width: 4},
	{title: "DECIDED BY", width: 10, flex: true, want: 24},
	{title: "WHEN", width: 6},
}

var historyDrop = []int{7, 4, 6, 3}

func (m Model) historyView() string {
	rows := m.historyRows()
	cols := layout(historyCols, m.width, historyDrop)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	lines := []string{m.st.header.Render(renderRow(cols, titles))}
	if len(rows) == 0 {
		msg := "No finished requests."
		if !m.listed {
			msg = "Loading…"
		}
		if !m.spec.empty() {
			msg = "No request matches the filter."
		}
		return strings.Join(append(lines, m.st.dim.Render(msg)), "\n")
	}
	page := max(1, m.bodyHeight()-1)
	cur := slices.IndexFunc(rows, func(r *mpa.Request) bool { return r.ID == m.histID })
	cur = max(cur, 0)
	top := cur / page * page
	now := m.now()
	for i := top; i < min(len(rows), top+page); i++ {
		r := rows[i]
		exit := "-"
		if r.Execution != nil && !r.Execution.End.IsZero() {
			exit = fmt.Sprint(r.Execution.ExitStatus)
		}
		decided := decidedBy(r)
		if w := decidedWidth(cols); w > 0 && len(decided) > w {
			// Narrow: the status says what happened; the names say who.
			decided = deciders(r)
		}
		cells := []string{r.ID, shownStatus(r, now), actionNames(r), r.Target, r.Requester,
			exit, orDash(decided), short(now.Sub(r.Updated))}
		line := renderRow(cols, cells)
		if i == cur {
			line = m.st.selected.Render(pad(line, m.width))
		}
		lines = append(lines, line)
	}
	if len(rows) > page {
		note := fmt.Sprintf("%d-%d of %d", top+1, min(len(rows), top+page), len(rows))
		head := strings.TrimRight(renderRow(cols, titles), " ")
		if w := m.width - len(note) - 1; w > len(head) {
			lines[0] = m.st.header.Render(pad(head, w)) + " " + m.st.dim.Render(note)
		}
	}
	return strings.Join(lines, "\n")
}

func (m Model) historyKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	rows := m.historyRows()
	page := max(1, m.bodyHeight()-1)
	pos := func() int {
		return max(0, slices.IndexFunc(rows, func(r *mpa.Request) bool { return r.ID == m.histID }))
	}
	step := func(d int) {
		if len(rows) > 0 {
			m.histID = rows[min(max(pos()+d, 0), len(rows)-1)].ID
		}
	}
	switch {
	case key.Matches(msg, k.Up):
		step(-1)
	case key.Matches(msg, k.Down):
		step(1)
	case key.Matches(msg, k.PageUp):
		step(-page)
	case key.Matches(msg, k.PageDown):
		step(page)
	case key.Matches(msg, k.Open):
		if len(rows) > 0 {
			return m.open(rows[pos()].ID)
		}
	case key.Matches(msg, k.History), key.Matches(msg, k.Back) && m.spec.empty():
		m.view = viewQueue
	case key.Matches(msg, k.Back):
		m.clearFilter()
	case key.Matches(msg, k.Filter):
		return m.startFilter()
	}
	return m, nil
}

// decidedBy says who decided r in words: "approved by alice, carol",
// "rejected by carol".
func decidedBy(r *mpa.Request) string {
	names := func(vs []mpa.Vote) string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.Approver
		}
		return strings.Join(out, ", ")
	}
	var parts []string
	if len(r.Rejections) > 0 {
		parts = append(parts, "rejected by "+names(r.Rejections))
	}
	if len(r.Approvals) > 0 {
		parts = append(parts, "approved by "+names(r.Approvals))
	}
	return strings.Join(parts, "; ")
}

// deciders is who voted on r, rejecters first: the short form of
// decidedBy for a narrow column.
func deciders(r *mpa.Request) string {
	var names []string
	for _, v := range r.Rejections {
		names = append(names, v.Approver)
	}
	for _, v := range r.Approvals {
		names = append(names, v.Approver)
	}
	return strings.Join(names, ",")
}

// decidedWidth is the width the layout gave the DECIDED BY column.
func decidedWidth(cols []column) int {
	for _, c := range cols {
		if c.title == "DECIDED BY" {
			return c.width
		}
	}
	return 0
}
