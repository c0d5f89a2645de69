package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// queueModel is the queue view: the pending requests the viewer may see,
// soonest expiry first, as filtered. Its own state is the cursor; the
// requests are the shared ones.
type queueModel struct {
	cursorID string // the selected request
}

// rows is the queue as filtered; without a filter it is the queue
// itself, not a copy.
func (q queueModel) rows(s *shared, spec filterSpec) []*mpa.Request {
	if spec.empty() {
		return s.queue
	}
	var out []*mpa.Request
	now := s.now()
	for _, r := range s.queue {
		if spec.match(r, now) {
			out = append(out, r)
		}
	}
	return out
}

// indexOf finds id in rows; -1 if absent. rows is the queue or a part of
// it, so sorted by expiry: a binary search.
func indexOf(s *shared, rows []*mpa.Request, id string) int {
	r, ok := s.reqs[id]
	if !ok {
		return -1
	}
	if i, found := slices.BinarySearchFunc(rows, r, byExpiry); found {
		return i
	}
	return -1
}

// cursor is the cursor's row, falling back to the first row when the
// selected request left the list; -1 for an empty list.
func (q queueModel) cursor(s *shared, rows []*mpa.Request) int {
	if len(rows) == 0 {
		return -1
	}
	if i := indexOf(s, rows, q.cursorID); i >= 0 {
		return i
	}
	return 0
}

// selected is the request under the cursor.
func (q queueModel) selected(s *shared, rows []*mpa.Request) (*mpa.Request, bool) {
	i := q.cursor(s, rows)
	if i < 0 {
		return nil, false
	}
	return rows[i], true
}

// update moves the cursor; the root handles every other key.
func (q queueModel) update(s *shared, rows []*mpa.Request, msg tea.KeyMsg) queueModel {
	k := s.keys
	page := s.body - 1
	switch {
	case key.Matches(msg, k.Up):
		q.cursorID = move(s, rows, q.cursorID, -1)
	case key.Matches(msg, k.Down):
		q.cursorID = move(s, rows, q.cursorID, 1)
	case key.Matches(msg, k.PageUp):
		q.cursorID = move(s, rows, q.cursorID, -page)
	case key.Matches(msg, k.PageDown):
		q.cursorID = move(s, rows, q.cursorID, page)
	}
	return q
}

// move returns the id at the cursor moved by delta within rows.
func move(s *shared, rows []*mpa.Request, id string, delta int) string {
	if len(rows) == 0 {
		return ""
	}
	i := indexOf(s, rows, id)
	if i < 0 {
		i = 0
	} else {
		i = min(max(i+delta, 0), len(rows)-1)
	}
	return rows[i].ID
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

// header is a list's header row, with note (what the marks mean, where
// the page is) at its right end when both fit.
func header(s *shared, cols []column, note string) string {
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	row := renderRow(cols, titles)
	if note != "" {
		head := strings.TrimRight(row, " ")
		if w := s.width - len([]rune(note)) - 1; w > len(head) {
			return s.st.header.Render(pad(head, w)) + " " + s.st.dim.Render(note)
		}
	}
	return s.st.header.Render(row)
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

// view draws the queue: a header and a page of rows around the cursor.
func (q queueModel) view(s *shared, spec filterSpec) string {
	rows := q.rows(s, spec)
	st, viewer := s.st, s.viewer
	cols := layout(queueCols, s.width, queueDrop)
	lines := []string{header(s, cols, "")}
	if len(rows) == 0 {
		msg := "No pending requests."
		if !viewer.Approver {
			msg = "You have no pending requests."
		}
		if !spec.empty() {
			msg = "No pending request matches the filter."
		}
		lines = append(lines, st.dim.Render(msg))
		return strings.Join(lines, "\n")
	}
	cur := q.cursor(s, rows)
	top, end, where := pageAround(len(rows), s.body, cur)
	now := s.now()
	ownShown, notForMe := false, false
	for i := top; i < end; i++ {
		r := rows[i]
		mark := " "
		if r.Requester == viewer.Name && viewer.Approver {
			mark = "*" // the viewer's own: another approver must decide
			ownShown = true
		} else if s.cannotHelp(r) {
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
			line = st.selected.Render(pad(line, s.width))
		case mark == "*":
			line = st.own.Render(line)
		case mark == "-":
			line = st.dim.Render(line)
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
	if where != "" {
		notes = append(notes, where)
	}
	if len(notes) > 0 {
		note := strings.Join(notes, " · ")
		lines[0] = header(s, cols, note)
	}
	return strings.Join(lines, "\n")
}

// pageAround is the page of a list of n rows that holds row cur, on a
// body lines high less one for the header: rows [top, end), and where,
// "top-end of n" for the header when the rows do not fit on one page.
func pageAround(n, body, cur int) (top, end int, where string) {
	page := max(1, body-1)
	top = cur / page * page
	end = min(n, top+page)
	if n > page {
		where = fmt.Sprintf("%d-%d of %d", top+1, end, n)
	}
	return top, end, where
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
