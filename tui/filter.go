package tui

import (
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// filterSpec is what / typed: free words matched anywhere (id, command,
// requester, reason, approvers) and status:, action: and target: terms.
// Every term must match; matching ignores case.
type filterSpec struct {
	raw    string
	words  []string
	status []string
	action []string
	target []string
}

func parseFilter(s string) filterSpec {
	f := filterSpec{raw: strings.TrimSpace(s)}
	for _, w := range strings.Fields(strings.ToLower(s)) {
		k, v, ok := strings.Cut(w, ":")
		switch {
		case ok && k == "status" && v != "":
			f.status = append(f.status, v)
		case ok && k == "action" && v != "":
			f.action = append(f.action, v)
		case ok && k == "target" && v != "":
			f.target = append(f.target, v)
		default:
			f.words = append(f.words, w)
		}
	}
	return f
}

func (f filterSpec) empty() bool { return f.raw == "" }

func (f filterSpec) match(r *mpa.Request, now time.Time) bool {
	if f.empty() {
		return true
	}
	for _, s := range f.status {
		if !strings.HasPrefix(shownStatus(r, now), s) {
			return false
		}
	}
	for _, a := range f.action {
		if !strings.Contains(strings.ToLower(actionNames(r)), a) {
			return false
		}
	}
	for _, t := range f.target {
		if !strings.Contains(strings.ToLower(r.Target), t) {
			return false
		}
	}
	if len(f.words) == 0 {
		return true
	}
	hay := []string{r.ID, r.Command, r.Requester, r.Reason, r.Target, actionNames(r), shownStatus(r, now)}
	for _, v := range r.Approvals {
		hay = append(hay, v.Approver, v.Comment)
	}
	for _, v := range r.Rejections {
		hay = append(hay, v.Approver, v.Comment)
	}
	all := strings.ToLower(strings.Join(hay, "\x00"))
	for _, w := range f.words {
		if !strings.Contains(all, w) {
			return false
		}
	}
	return true
}

// filterModel is the filter both lists share: the line being typed after
// / and what it parses to.
type filterModel struct {
	input  field
	typing bool
	spec   filterSpec
}

func newFilter(st styles) filterModel {
	f := filterModel{input: newField(st, "filter: ", false)}
	f.input.placeholder = "text status:rejected action:kill target:web"
	return f
}

// start opens the line with the filter in force.
func (f filterModel) start() filterModel {
	f.typing = true
	f.input.set(f.spec.raw)
	f.input.focus()
	return f
}

// update edits the filter; it applies as typed, enter keeps it and esc
// drops it.
func (f filterModel) update(msg tea.KeyMsg) filterModel {
	switch msg.Type {
	case tea.KeyEnter:
		f.typing = false
		f.input.blur()
		return f
	case tea.KeyEsc:
		return f.clear()
	}
	f.input = f.input.update(msg)
	f.spec = parseFilter(f.input.text())
	return f
}

// clear drops the filter.
func (f filterModel) clear() filterModel {
	f.typing = false
	f.input.blur()
	f.input.set("")
	f.spec = filterSpec{}
	return f
}
