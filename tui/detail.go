package tui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

const labelWidth = 11

// detailHeight is the viewport's height: the body less the dialog, when
// open, and the scroll line.
func (m Model) detailHeight() int {
	h := m.bodyHeight() - 1
	if m.dialogOpen {
		h -= lipgloss.Height(m.dialogView())
	}
	return max(1, h)
}

// refreshDetail rebuilds the detail view's content (after a change, a
// resize or a tick of the countdown) keeping the scroll position.
func (m *Model) refreshDetail() {
	m.vp.Width = m.width
	m.vp.Height = m.detailHeight()
	if m.view != viewDetail {
		return
	}
	m.vp.SetContent(m.detailContent())
}

// detailPage collects the lines of the detail view at width w.
type detailPage struct {
	st    styles
	w     int
	lines []string
}

// field adds a labelled value, wrapped under the label's column.
func (p *detailPage) field(label, value string) {
	for i, l := range wrapText(value, max(10, p.w-labelWidth)) {
		if i == 0 {
			p.lines = append(p.lines, p.st.label.Render(pad(label, labelWidth))+l)
		} else {
			p.lines = append(p.lines, strings.Repeat(" ", labelWidth)+l)
		}
	}
}

// section starts a titled block after a blank line.
func (p *detailPage) section(title string) {
	p.lines = append(p.lines, "", p.st.label.Render(title))
}

// text adds already-safe lines, each indented by two spaces.
func (p *detailPage) text(lines ...string) {
	for _, l := range lines {
		p.lines = append(p.lines, "  "+l)
	}
}

// hanging adds s wrapped to width, its first line after first and the
// others after rest.
func (p *detailPage) hanging(s, first, rest string, width int) {
	for i, l := range wrapText(s, max(10, width)) {
		if i == 0 {
			p.lines = append(p.lines, first+l)
		} else {
			p.lines = append(p.lines, rest+l)
		}
	}
}

func (m Model) detailContent() string {
	r, ok := m.reqs[m.detailID]
	if !ok {
		return m.st.dim.Render("Request " + m.detailID + " is no longer stored.")
	}
	p := &detailPage{st: m.st, w: m.width}
	m.detailSummary(p, r)
	m.detailCommand(p, r)
	p.section("Reason")
	p.text(wrapText(printable(orDash(r.Reason)), max(10, p.w-2))...)
	m.detailVotes(p, r)
	m.detailHistory(p)
	return strings.Join(p.lines, "\n")
}

// detailSummary is the head of the detail view: status, requester,
// target and actions.
func (m Model) detailSummary(p *detailPage, r *mpa.Request) {
	now := m.now()
	status := r.Status.String()
	if r.Status == mpa.StatusPending {
		status = fmt.Sprintf("pending · %d/%d approvals · expires in %s (%s)",
			len(r.Approvals), r.RequiredApprovals, until(now, r.ExpiresAt), stamp(r.ExpiresAt))
	} else if r.Status == mpa.StatusApproved {
		status = fmt.Sprintf("approved · may be run until %s (in %s)", stamp(r.ExpiresAt), until(now, r.ExpiresAt))
	} else if shown := shownStatus(r, now); shown != status {
		status = shown + " (not yet recorded by the service)"
	}
	if x := r.Execution; x != nil && !x.End.IsZero() {
		status += fmt.Sprintf(" · exit status %d", x.ExitStatus)
	}
	p.field("Status", status)
	if note := ownNote(r, m.viewer.Name); note != "" && m.viewer.Approver {
		p.lines = append(p.lines, strings.Repeat(" ", labelWidth)+m.st.own.Render(note))
	}
	p.field("Requester", fmt.Sprintf("%s · %s (%s ago)", r.Requester, stamp(r.Created), short(now.Sub(r.Created))))
	if r.RequesterCert != "" {
		p.field("Certificate", printable(r.RequesterCert))
	}
	p.field("Target", orDash(r.Target))
	p.field("Action", actionList(r.Actions))
}

// detailCommand shows what would run, every byte, wrapped and never cut,
// with the words the policy matched highlighted, then why it was held.
func (m Model) detailCommand(p *detailPage, r *mpa.Request) {
	w := p.w
	matches, whyOK := parseWhy(r.Why)
	if r.Kind == mpa.KindUpdatePolicy {
		// What approvers approve is the change: the diff, line by line,
		// is the why of the request.
		p.section("Why: this change to policies.yaml")
		for _, dl := range strings.Split(strings.TrimRight(r.Command, "\n"), "\n") {
			p.text(wrapText(printable(dl), max(10, w-2))...)
		}
	} else {
		p.section("Command")
		cmd := r.Command
		if r.Kind != mpa.KindCommand {
			cmd = string(r.Kind)
			if len(r.Payload) > 0 {
				cmd += " " + string(r.Payload)
			}
		}
		hl := highlight(cmd, matchedSpans(matches, len(cmd)), m.st.match)
		p.text(wrap(hl, max(10, w-2))...)
		if r.PTY {
			p.text(m.st.own.Render("runs with a terminal: interactive programs can run anything"))
		}
	}
	if r.Kind != mpa.KindUpdatePolicy || len(matches) > 0 || !whyOK {
		p.section("Why")
	}
	switch {
	case r.Kind == mpa.KindUpdatePolicy && whyOK && len(matches) == 0:
		// The diff above is the why.
	case !whyOK:
		p.text(wrap(printable(string(r.Why)), max(10, w-2))...)
	case len(matches) == 0:
		p.text(m.st.dim.Render("no policy explanation stored"))
	}
	for _, pm := range matches {
		p.hanging(printable(describeMatch(pm)), "  - ", "    ", w-4)
	}
}

// detailVotes shows the approvals, rejections, progress, the execution
// and its kept output.
func (m Model) detailVotes(p *detailPage, r *mpa.Request) {
	w := p.w
	p.section(fmt.Sprintf("Approvals (%d of %d)", len(r.Approvals), r.RequiredApprovals))
	for _, v := range r.Approvals {
		p.lines = append(p.lines, m.voteLines("+ ", v, w)...)
	}
	if len(r.Rejections) > 0 {
		p.section("Rejections")
		for _, v := range r.Rejections {
			p.lines = append(p.lines, m.voteLines("- ", v, w)...)
		}
	}
	p.lines = append(p.lines, m.progressLines(r, w)...)
	if x := r.Execution; x != nil {
		p.section("Execution")
		p.field("Ran", fmt.Sprintf("%s on %s", stamp(x.Start), orDash(x.Node)))
		if !x.End.IsZero() {
			p.field("Exit", fmt.Sprintf("status %d at %s, %d bytes of output", x.ExitStatus, stamp(x.End), x.OutputBytes))
		}
		if x.Error != "" {
			p.field("Error", printable(x.Error))
		}
	}
	p.lines = append(p.lines, m.outputLines(w)...)
}

// detailHistory is the request's audit events.
func (m Model) detailHistory(p *detailPage) {
	p.section("History")
	switch {
	case m.eventsErr != nil:
		p.text(m.st.err.Render(describe(m.eventsErr)))
	case m.events == nil:
		p.text(m.st.dim.Render("loading…"))
	}
	for _, e := range m.events {
		p.hanging(printable(eventLine(e)), "  ", "      ", p.w-2)
	}
}

func (m Model) voteLines(sign string, v mpa.Vote, w int) []string {
	s := fmt.Sprintf("%s at %s", v.Approver, stamp(v.At))
	if !v.ValidBefore.IsZero() {
		s += ", valid before " + stamp(v.ValidBefore)
	}
	if v.Comment != "" {
		s += ": " + printable(v.Comment)
	}
	var out []string
	for i, l := range wrapText(s, max(10, w-4)) {
		p := "  " + sign
		if i > 0 {
			p = "    "
		}
		out = append(out, p+l)
	}
	return out
}

// eventLine is one audit event of a request's history: when, what, who,
// and the event's own words (a comment, the approvals count).
func eventLine(e audit.Event) string {
	s := e.Time.UTC().Format("01-02 15:04:05") + " " + eventWords(e.Kind, e.Actor)
	var d map[string]any
	if json.Unmarshal(e.Data, &d) == nil {
		if c, ok := d["comment"].(string); ok && c != "" {
			s += fmt.Sprintf(": %q", c)
		}
		if n, ok := d["approvals"].(float64); ok {
			s += fmt.Sprintf(" (%v/%v)", n, d["required"])
		}
		if x, ok := d["exit_status"].(float64); ok {
			s += fmt.Sprintf(" exit %v", x)
		}
	}
	return s
}

func actionList(as []mpa.ActionRef) string {
	if len(as) == 0 {
		return "-"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Name + " (" + a.Service + ")"
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m Model) detailView() string {
	var b strings.Builder
	b.WriteString(m.vp.View())
	b.WriteByte('\n')
	if m.vp.TotalLineCount() > m.vp.Height {
		note := fmt.Sprintf("── %d%% · ↑/↓ to scroll ", int(m.vp.ScrollPercent()*100))
		b.WriteString(m.st.dim.Render(note + strings.Repeat("─", max(0, m.width-lipgloss.Width(note)))))
	}
	if m.dialogOpen {
		b.WriteByte('\n')
		b.WriteString(m.dialogView())
	}
	return b.String()
}

func (m Model) detailKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Back):
		m.view = m.back
		m.detailID = ""
		return m, nil
	case key.Matches(msg, k.Up):
		m.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		m.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		m.vp.HalfPageUp()
	case key.Matches(msg, k.PageDown):
		m.vp.HalfPageDown()
	case key.Matches(msg, k.Approve), key.Matches(msg, k.Reject):
		if m.viewer.Approver {
			return m.openDialog(key.Matches(msg, k.Approve))
		}
	case key.Matches(msg, k.Cancel):
		return m.startCancel()
	}
	return m, nil
}

// eventWords says what an audit event of a request means, in plain words:
// "rejected by carol" for a request.rejection, "approval complete" for the
// transition a quorum makes.
func eventWords(kind, actor string) string {
	by := ""
	if actor != "" {
		by = " by " + actor
	}
	switch kind {
	case audit.KindRequestCreated:
		return "created" + by
	case audit.KindRequestApproval:
		return "approved" + by
	case audit.KindRequestRejection:
		return "rejected" + by
	case audit.KindRequestApproved:
		return "quorum reached; ready to run"
	case audit.KindRequestRejected:
		return "request closed as rejected"
	case audit.KindRequestExecuting:
		return "released" + by + "; running"
	case audit.KindRequestCompleted:
		return "finished"
	case audit.KindRequestExpired:
		return "expired before it was decided or run"
	case audit.KindRequestCancelled:
		return "cancelled" + by
	case audit.KindRequestInterrupted:
		return "interrupted by a gate stop; not run again"
	}
	return strings.TrimPrefix(kind, "request.") + by
}
