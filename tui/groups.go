package tui

import (
	"context"
	"strings"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// groupsBackend is a Backend that knows approvers rules (*mpa.Service
// does): which lines of a request are met, who can still help it, and
// whether a vote by the viewer would. A backend without it shows none.
type groupsBackend interface {
	Get(ctx context.Context, id string) (mpa.Request, error)
	Progress(ctx context.Context, r mpa.Request) (mpa.Progress, error)
	CanHelp(r mpa.Request, user string) bool
}

var _ groupsBackend = (*mpa.Service)(nil)

// loadProgress reads request id's lines and who can still help it, for
// requests with approvers rules; nil for others.
func loadProgress(ctx context.Context, b Backend, id string) (*mpa.Progress, error) {
	gb, ok := b.(groupsBackend)
	if !ok {
		return nil, nil
	}
	r, err := gb.Get(ctx, id)
	if err != nil || len(r.Rules) == 0 {
		return nil, err
	}
	p, err := gb.Progress(ctx, r)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// cannotHelp reports whether the viewer, an approver, cannot help the
// pending request r with their vote: it has approvers rules and none of
// the lines it still needs is one of their groups. The queue marks it.
func (m Model) cannotHelp(r *mpa.Request) bool {
	if !m.viewer.Approver || len(r.Rules) == 0 || r.Status != mpa.StatusPending || r.Requester == m.viewer.Name {
		return false
	}
	for _, vs := range [][]mpa.Vote{r.Approvals, r.Rejections} {
		for _, v := range vs {
			if v.Approver == m.viewer.Name {
				return false
			}
		}
	}
	gb, ok := m.svc.(groupsBackend)
	return ok && !gb.CanHelp(*r, m.viewer.Name)
}

// progressLines is the detail view's Approvers section: each line of the
// request's approvers rules, met or not and by whom, and who can still
// approve it.
func (m Model) progressLines(r *mpa.Request, w int) []string {
	if len(r.Rules) == 0 || (m.progress == nil && m.progressErr == nil) {
		return nil
	}
	lines := []string{"", m.st.label.Render("Approvers rule")}
	if m.progressErr != nil {
		return append(lines, "  "+m.st.err.Render(describe(m.progressErr)))
	}
	for _, l := range m.progress.Lines {
		mark, text := "✗ ", l.String()
		if l.Met() {
			mark = "✓ "
		}
		for i, wl := range wrapText(printable(text), max(10, w-4)) {
			p := "  " + mark
			if i > 0 {
				p = "    "
			}
			lines = append(lines, p+wl)
		}
	}
	if r.Status == mpa.StatusPending && !m.progress.Met() {
		who := "nobody registered: the groups as they stand cannot meet it"
		if len(m.progress.CanHelp) > 0 {
			who = strings.Join(m.progress.CanHelp, ", ")
		}
		for _, wl := range wrapText(printable("can still approve: "+who), max(10, w-2)) {
			lines = append(lines, "  "+wl)
		}
		if m.cannotHelp(r) {
			lines = append(lines, "  "+m.st.own.Render("you cannot help: none of the lines it still needs is one of your groups"))
		}
	}
	return lines
}
