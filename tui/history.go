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

// historyModel is the history view: every request the viewer may see
// that is no longer waiting for votes. Its own state is the cursor.
type historyModel struct {
	selID  string // the selected request
	listed bool   // the stored requests have been loaded
}

// rows is every request the viewer may see that is no longer waiting for
// votes (approved, running, or final), newest change first, as filtered.
func (h historyModel) rows(s *shared, spec filterSpec) []*mpa.Request {
	now := s.now()
	var out []*mpa.Request
	for _, r := range s.reqs {
		if !s.visible(r) {
			continue
		}
		if r.Status == mpa.StatusPending && (r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt)) {
			continue
		}
		if spec.match(r, now) {
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

// view draws the history: a header and a page of rows around the cursor.
func (h historyModel) view(s *shared, spec filterSpec) string {
	rows := h.rows(s, spec)
	st := s.st
	cols := layout(historyCols, s.width, historyDrop)
	lines := []string{header(s, cols, "")}
	if len(rows) == 0 {
		msg := "No finished requests."
		if !h.listed {
			msg = "Loading…"
		}
		if !spec.empty() {
			msg = "No request matches the filter."
		}
		return strings.Join(append(lines, st.dim.Render(msg)), "\n")
	}
	cur := h.cursor(rows)
	top, end, where := pageAround(len(rows), s.body, cur)
	now := s.now()
	for i := top; i < end; i++ {
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
			line = st.selected.Render(pad(line, s.width))
		}
		lines = append(lines, line)
	}
	if where != "" {
		lines[0] = header(s, cols, where)
	}
	return strings.Join(lines, "\n")
}

// cursor is the selected row, or the first when the selected request is
// not in rows.
func (h historyModel) cursor(rows []*mpa.Request) int {
	return max(0, slices.IndexFunc(rows, func(r *mpa.Request) bool { return r.ID == h.selID }))
}

// selected is the request under the cursor.
func (h historyModel) selected(rows []*mpa.Request) (*mpa.Request, bool) {
	if len(rows) == 0 {
		return nil, false
	}
	return rows[h.cursor(rows)], true
}

// update moves the cursor; the root handles every other key.
func (h historyModel) update(s *shared, rows []*mpa.Request, msg tea.KeyMsg) historyModel {
	k := s.keys
	page := max(1, s.body-1)
	step := func(d int) {
		if len(rows) > 0 {
			h.selID = rows[min(max(h.cursor(rows)+d, 0), len(rows)-1)].ID
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
	}
	return h
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
