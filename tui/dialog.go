package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// dialog is the approve / reject form: the TOTP code (masked), a comment
// and, for an approval, an optional valid-before.
type dialog struct {
	approve bool
	id      string
	inputs  []field
	focus   int
	err     string
	busy    bool
}

const (
	fieldCode = iota
	fieldComment
	fieldValidBefore
)

func (m Model) openDialog(approve bool) (Model, tea.Cmd) {
	if m.detailID == "" {
		return m, nil
	}
	if r, ok := m.reqs[m.detailID]; ok && r.Requester == m.viewer.Name {
		// Refused here, at once, rather than after a code is typed.
		m.setFlash("this is your own request: another approver must decide it", true)
		return m, nil
	}
	d := dialog{approve: approve, id: m.detailID}
	code := newField(m.st, "TOTP code     ", true)
	code.limit = 8
	code.placeholder = "6 digits"
	comment := newField(m.st, "Comment       ", false)
	comment.limit = 500
	if approve {
		comment.placeholder = "optional"
	} else {
		comment.placeholder = "required: why you reject it"
	}
	d.inputs = []field{code, comment}
	if approve {
		vb := newField(m.st, "Valid before  ", false)
		vb.placeholder = "optional: 2h or 2025-03-01T18:00:00Z"
		vb.limit = 40
		d.inputs = append(d.inputs, vb)
	}
	w := max(10, min(m.width, 76)-4-len(code.prompt))
	for i := range d.inputs {
		d.inputs[i].width = w
	}
	d.inputs[fieldCode].focus()
	m.dialog = d
	m.dialogOpen = true
	m.setFlash("", false)
	m.resize()
	return m, nil
}

func (d *dialog) setFocus(i int) tea.Cmd {
	d.inputs[d.focus].blur()
	d.focus = (i + len(d.inputs)) % len(d.inputs)
	d.inputs[d.focus].focus()
	return nil
}

func (m Model) closeDialog() Model {
	m.dialogOpen = false
	m.dialog = dialog{}
	m.resize()
	return m
}

func (m Model) dialogKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	d := &m.dialog
	switch msg.Type {
	case tea.KeyEsc:
		return m.closeDialog(), nil
	case tea.KeyTab, tea.KeyDown:
		return m, d.setFocus(d.focus + 1)
	case tea.KeyShiftTab, tea.KeyUp:
		return m, d.setFocus(d.focus - 1)
	case tea.KeyEnter:
		return m.submit()
	}
	if d.busy {
		return m, nil
	}
	d.inputs[d.focus] = d.inputs[d.focus].update(msg)
	return m, nil
}

// submit checks the form's shape (a code, a comment to reject, a
// readable valid-before) and sends the vote. Whether the vote counts is
// the service's answer, shown when it comes back.
func (m Model) submit() (tea.Model, tea.Cmd) {
	d := &m.dialog
	if d.busy {
		return m, nil
	}
	code := strings.TrimSpace(d.inputs[fieldCode].text())
	comment := strings.TrimSpace(d.inputs[fieldComment].text())
	in := mpa.VoteInput{Code: code, Comment: comment}
	switch {
	case code == "":
		d.err = "enter the code from your authenticator"
		return m, d.setFocus(fieldCode)
	case !d.approve && comment == "":
		d.err = "a comment is required to reject"
		return m, d.setFocus(fieldComment)
	}
	if d.approve {
		vb, err := parseValidBefore(d.inputs[fieldValidBefore].text(), m.now())
		if err != nil {
			d.err = err.Error()
			return m, d.setFocus(fieldValidBefore)
		}
		in.ValidBefore = vb
	}
	d.err = ""
	d.busy = true
	return m, voteCmd(m.ctx, m.svc, d.id, m.viewer.Name, d.approve, in)
}

// parseValidBefore reads a duration from now ("2h", "90m") or a time
// (RFC 3339, or "2006-01-02 15:04" in UTC); empty means no limit.
func parseValidBefore(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, errors.New("valid-before must be in the future")
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("valid-before %q: use a duration (2h) or a time (2025-03-01T18:00:00Z)", s)
}

func (m Model) onVote(msg voteMsg) (tea.Model, tea.Cmd) {
	if !m.dialogOpen || msg.id != m.dialog.id {
		return m, nil // the dialog was closed; the service's answer stands
	}
	d := &m.dialog
	d.busy = false
	if msg.err != nil {
		d.err = describe(msg.err)
		// A code is single-use whatever the outcome; make room for the
		// next one.
		d.inputs[fieldCode].set("")
		return m, d.setFocus(fieldCode)
	}
	m.upsert(msg.r)
	m = m.closeDialog()
	if msg.approve {
		s := fmt.Sprintf("approved %s: %d of %d approvals", msg.id, len(msg.r.Approvals), msg.r.RequiredApprovals)
		if msg.r.Status != mpa.StatusPending {
			s += ", now " + msg.r.Status.String()
		}
		m.setFlash(s, false)
	} else {
		m.setFlash("rejected "+msg.id, false)
	}
	m.refreshDetail()
	return m, eventsCmd(m.ctx, m.svc, msg.id)
}

func (m Model) dialogView() string {
	d := m.dialog
	verb := "Reject"
	if d.approve {
		verb = "Approve"
	}
	lines := []string{m.st.label.Render(verb + " " + d.id)}
	for _, in := range d.inputs {
		lines = append(lines, in.view())
	}
	switch {
	case d.busy:
		lines = append(lines, m.st.dim.Render("checking…"))
	case d.err != "":
		lines = append(lines, m.st.err.Render(d.err))
	default:
		lines = append(lines, m.st.dim.Render("enter to submit · tab next field · esc to close"))
	}
	w := min(m.width, 76)
	return m.st.box.Width(max(10, w-2)).Render(strings.Join(lines, "\n"))
}

// describe is the short message an approver sees for a service error;
// the service has already logged the cause.
func describe(err error) string {
	var lo *mpa.LockedOutError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &lo):
		return "locked out after too many wrong codes, until " + lo.Until.UTC().Format("15:04:05Z")
	case errors.Is(err, mpa.ErrLockedOut):
		return "locked out after too many wrong codes; wait and try again"
	case errors.Is(err, mpa.ErrBadCode):
		return "wrong code: check your authenticator and try again"
	case errors.Is(err, mpa.ErrReplayedCode):
		return "that code was already used: wait for the next one"
	case errors.Is(err, mpa.ErrNotPending):
		return "already decided: " + afterColon(err.Error(), "it is ")
	case errors.Is(err, mpa.ErrExpired):
		return "the request expired; it needs a new request"
	case errors.Is(err, mpa.ErrSelfApproval):
		return "this is your own request: another approver must decide it"
	case errors.Is(err, mpa.ErrAlreadyVoted):
		return "you already voted on this request"
	case errors.Is(err, mpa.ErrNotApprover):
		return "you are not a registered approver"
	case errors.Is(err, mpa.ErrNotAllowed):
		return "your roles do not allow approving these actions"
	case errors.Is(err, mpa.ErrNotInGroup):
		return "you are in none of the groups this request needs"
	case errors.Is(err, mpa.ErrNotRequester):
		return "only the requester may cancel it"
	case errors.Is(err, mpa.ErrNotFound):
		return "no such request (it may have been removed)"
	case errors.Is(err, mpa.ErrNoRegistration):
		return "no registration started"
	case errors.Is(err, mpa.ErrRegistrationPending):
		return "your registration is already waiting for approval"
	case errors.Is(err, mpa.ErrAlreadyRegistered):
		return "you are already registered"
	case errors.Is(err, mpa.ErrInvalid):
		return "invalid input: " + strings.TrimPrefix(err.Error(), "mpa: ")
	}
	return "failed: " + err.Error()
}

// afterColon returns what follows marker in s ("it is approved" gives
// "approved"), or s's last part if marker is absent.
func afterColon(s, marker string) string {
	if i := strings.LastIndex(s, marker); i >= 0 {
		return "it is " + s[i+len(marker):]
	}
	return "it takes no more votes"
}
