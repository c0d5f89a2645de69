package tui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

const labelWidth = 11

// detailModel is a request's detail view: everything about one request,
// in a viewport that scrolls. Its own state is which request, what was
// fetched about it (its audit trail, kept output and approvers rule
// lines) and the scroll position; the request itself is the shared one.
type detailModel struct {
	id        string
	events    []audit.Event
	eventsErr error
	output    *mpa.StoredOutput
	outputErr error
	// progress is the request's approvers rule lines (groups.go).
	progress    *mpa.Progress
	progressErr error
	vp          viewport.Model
}

// opened is the view for request id, at the top, with nothing fetched yet.
func (d detailModel) opened(id string) detailModel {
	vp := d.vp
	vp.GotoTop()
	return detailModel{id: id, vp: vp}
}

// loaded takes what eventsCmd fetched about the request.
func (d detailModel) loaded(msg eventsMsg) detailModel {
	d.events, d.eventsErr = msg.events, msg.err
	d.output, d.outputErr = msg.output, msg.outputErr
	d.progress, d.progressErr = msg.progress, msg.progressErr
	return d
}

// refresh sizes the viewport and, when the view is shown, rebuilds its
// content (after a change, a resize or a tick of the countdown) keeping
// the scroll position.
func (d *detailModel) refresh(s *shared, height int, shown bool) {
	d.vp.Width = s.width
	d.vp.Height = height
	if shown {
		d.vp.SetContent(d.content(s))
	}
}

// update scrolls; the root handles every other key.
func (d detailModel) update(k KeyMap, msg tea.KeyMsg) detailModel {
	switch {
	case key.Matches(msg, k.Up):
		d.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		d.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		d.vp.HalfPageUp()
	case key.Matches(msg, k.PageDown):
		d.vp.HalfPageDown()
	}
	return d
}

// view draws the viewport and, when it does not show everything, where
// the scroll is.
func (d detailModel) view(s *shared) string {
	var b strings.Builder
	b.WriteString(d.vp.View())
	b.WriteByte('\n')
	if d.vp.TotalLineCount() > d.vp.Height {
		note := fmt.Sprintf("── %d%% · ↑/↓ to scroll ", int(d.vp.ScrollPercent()*100))
		b.WriteString(s.st.dim.Render(note + strings.Repeat("─", max(0, s.width-lipgloss.Width(note)))))
	}
	return b.String()
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

// content is the whole detail page: a summary, the command and why it
// was held, the reason, the votes and execution, the audit trail.
func (d detailModel) content(s *shared) string {
	r, ok := s.reqs[d.id]
	if !ok {
		return s.st.dim.Render("Request " + d.id + " is no longer stored.")
	}
	p := &detailPage{st: s.st, w: s.width}
	summarySection(p, s, r)
	commandSection(p, s.st, r)
	whySection(p, r)
	p.section("Reason")
	p.text(wrapText(printable(orDash(r.Reason)), max(10, p.w-2))...)
	d.votesSection(p, s, r)
	d.historySection(p)
	return strings.Join(p.lines, "\n")
}

// summarySection is the head of the detail view: status, requester,
// target and actions.
func summarySection(p *detailPage, s *shared, r *mpa.Request) {
	now := s.now()
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
	if note := ownNote(r, s.viewer.Name); note != "" && s.viewer.Approver {
		p.lines = append(p.lines, strings.Repeat(" ", labelWidth)+s.st.own.Render(note))
	}
	p.field("Requester", fmt.Sprintf("%s · %s (%s ago)", r.Requester, stamp(r.Created), short(now.Sub(r.Created))))
	if r.RequesterCert != "" {
		p.field("Certificate", printable(r.RequesterCert))
	}
	p.field("Target", orDash(r.Target))
	p.field("Action", actionList(r.Actions))
}

// commandSection shows what would run, every byte, wrapped and never
// cut, with the words the policy matched highlighted. For a change to
// policies.yaml, what approvers approve is the change: the diff, line by
// line, is the why of the request.
func commandSection(p *detailPage, st styles, r *mpa.Request) {
	w := p.w
	if r.Kind == mpa.KindUpdatePolicy {
		p.section("Why: this change to policies.yaml")
		for _, dl := range strings.Split(strings.TrimRight(r.Command, "\n"), "\n") {
			p.text(wrapText(printable(dl), max(10, w-2))...)
		}
		return
	}
	p.section("Command")
	cmd := r.Command
	if r.Kind != mpa.KindCommand {
		cmd = string(r.Kind)
		if len(r.Payload) > 0 {
			cmd += " " + string(r.Payload)
		}
	}
	matches, _ := parseWhy(r.Why)
	hl := highlight(cmd, matchedSpans(matches, len(cmd)), st.match)
	p.text(wrap(hl, max(10, w-2))...)
	if r.PTY {
		p.text(st.own.Render("runs with a terminal: interactive programs can run anything"))
	}
}

// whySection is why the request was held: each policy match in the words
// every keyturn client uses ([mpawords.MatchLine]), or the stored why as
// is when it is not a list of matches.
func whySection(p *detailPage, r *mpa.Request) {
	w := p.w
	matches, whyOK := parseWhy(r.Why)
	if r.Kind != mpa.KindUpdatePolicy || len(matches) > 0 || !whyOK {
		p.section("Why")
	}
	switch {
	case r.Kind == mpa.KindUpdatePolicy && whyOK && len(matches) == 0:
		// The diff above is the why.
	case !whyOK:
		p.text(wrap(printable(string(r.Why)), max(10, w-2))...)
	case len(matches) == 0:
		p.text(p.st.dim.Render("no policy explanation stored"))
	}
	for _, pm := range matches {
		p.hanging(mpawords.MatchLine(pm, ""), "  - ", "    ", w-4)
	}
}

// votesSection shows the approvals, rejections, progress, the execution
// and its kept output.
func (d detailModel) votesSection(p *detailPage, s *shared, r *mpa.Request) {
	w := p.w
	p.section(fmt.Sprintf("Approvals (%d of %d)", len(r.Approvals), r.RequiredApprovals))
	for _, v := range r.Approvals {
		p.lines = append(p.lines, voteLines("+ ", v, w)...)
	}
	if len(r.Rejections) > 0 {
		p.section("Rejections")
		for _, v := range r.Rejections {
			p.lines = append(p.lines, voteLines("- ", v, w)...)
		}
	}
	p.lines = append(p.lines, d.progressLines(s, r, w)...)
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
	p.lines = append(p.lines, d.outputLines(s, w)...)
}

// historySection is the request's audit events.
func (d detailModel) historySection(p *detailPage) {
	p.section("History")
	switch {
	case d.eventsErr != nil:
		p.text(p.st.err.Render(describe(d.eventsErr)))
	case d.events == nil:
		p.text(p.st.dim.Render("loading…"))
	}
	for _, e := range d.events {
		p.hanging(printable(eventLine(e)), "  ", "      ", p.w-2)
	}
}

func voteLines(sign string, v mpa.Vote, w int) []string {
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
