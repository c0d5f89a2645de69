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

// progressLines is the detail view's Approvers section: each line of the
// request's approvers rules, met or not and by whom, and who can still
// approve it.
func (d detailModel) progressLines(s *shared, r *mpa.Request, w int) []string {
	if len(r.Rules) == 0 || (d.progress == nil && d.progressErr == nil) {
		return nil
	}
	lines := []string{"", s.st.label.Render("Approvers rule")}
	if d.progressErr != nil {
		return append(lines, "  "+s.st.err.Render(describe(d.progressErr)))
	}
	for _, l := range d.progress.Lines {
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
	if r.Status == mpa.StatusPending && !d.progress.Met() {
		who := "nobody registered: the groups as they stand cannot meet it"
		if len(d.progress.CanHelp) > 0 {
			who = strings.Join(d.progress.CanHelp, ", ")
		}
		for _, wl := range wrapText(printable("can still approve: "+who), max(10, w-2)) {
			lines = append(lines, "  "+wl)
		}
		if s.cannotHelp(r) {
			lines = append(lines, "  "+s.st.own.Render("you cannot help: none of the lines it still needs is one of your groups"))
		}
	}
	return lines
}
