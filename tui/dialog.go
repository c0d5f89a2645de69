package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

// dialogModel is the approve / reject form, drawn under the detail view:
// the TOTP code (masked), a comment and, for an approval, an optional
// valid-before. The zero value is a closed dialog.
type dialogModel struct {
	open    bool
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

// newDialog is an open form for a vote on request id.
func newDialog(s *shared, id string, approve bool) dialogModel {
	d := dialogModel{open: true, approve: approve, id: id}
	code := newField(s.st, "TOTP code     ", true)
	code.limit = 8
	code.placeholder = "6 digits"
	comment := newField(s.st, "Comment       ", false)
	comment.limit = 500
	if approve {
		comment.placeholder = "optional"
	} else {
		comment.placeholder = "required: why you reject it"
	}
	d.inputs = []field{code, comment}
	if approve {
		vb := newField(s.st, "Valid before  ", false)
		vb.placeholder = "optional: 2h or 2025-03-01T18:00:00Z"
		vb.limit = 40
		d.inputs = append(d.inputs, vb)
	}
	w := max(10, min(s.width, 76)-4-len(code.prompt))
	for i := range d.inputs {
		d.inputs[i].width = w
	}
	d.inputs[fieldCode].focus()
	return d
}

func (d *dialogModel) setFocus(i int) {
	d.inputs[d.focus].blur()
	d.focus = (i + len(d.inputs)) % len(d.inputs)
	d.inputs[d.focus].focus()
}

// update moves between fields, types, and on enter sends the vote. The
// root closes the dialog on esc.
func (d dialogModel) update(s *shared, msg tea.KeyMsg) (dialogModel, tea.Cmd) {
	switch msg.Type {
	case tea.KeyTab, tea.KeyDown:
		d.setFocus(d.focus + 1)
		return d, nil
	case tea.KeyShiftTab, tea.KeyUp:
		d.setFocus(d.focus - 1)
		return d, nil
	case tea.KeyEnter:
		return d.submit(s)
	}
	if d.busy {
		return d, nil
	}
	d.inputs[d.focus] = d.inputs[d.focus].update(msg)
	return d, nil
}

// submit checks the form's shape (a code, a comment to reject, a
// readable valid-before) and sends the vote. Whether the vote counts is
// the service's answer, shown when it comes back.
func (d dialogModel) submit(s *shared) (dialogModel, tea.Cmd) {
	if d.busy {
		return d, nil
	}
	code := strings.TrimSpace(d.inputs[fieldCode].text())
	comment := strings.TrimSpace(d.inputs[fieldComment].text())
	in := mpa.VoteInput{Code: code, Comment: comment}
	switch {
	case code == "":
		d.err = "enter the code from your authenticator"
		d.setFocus(fieldCode)
		return d, nil
	case !d.approve && comment == "":
		d.err = "a comment is required to reject"
		d.setFocus(fieldComment)
		return d, nil
	}
	if d.approve {
		vb, err := parseValidBefore(d.inputs[fieldValidBefore].text(), s.now())
		if err != nil {
			d.err = err.Error()
			d.setFocus(fieldValidBefore)
			return d, nil
		}
		in.ValidBefore = vb
	}
	d.err = ""
	d.busy = true
	return d, voteCmd(s.ctx, s.svc, d.id, s.viewer.Name, d.approve, in)
}

// refused shows the service's refusal of the vote and makes room for the
// next code: a code is single-use whatever the outcome.
func (d dialogModel) refused(err error) dialogModel {
	d.busy = false
	d.err = describe(err)
	d.inputs[fieldCode].set("")
	d.setFocus(fieldCode)
	return d
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

// view draws the form in a box.
func (d dialogModel) view(s *shared) string {
	verb := "Reject"
	if d.approve {
		verb = "Approve"
	}
	lines := []string{s.st.label.Render(verb + " " + d.id)}
	for _, in := range d.inputs {
		lines = append(lines, in.view())
	}
	switch {
	case d.busy:
		lines = append(lines, s.st.dim.Render("checking…"))
	case d.err != "":
		lines = append(lines, s.st.err.Render(d.err))
	default:
		lines = append(lines, s.st.dim.Render("enter to submit · tab next field · esc to close"))
	}
	w := min(s.width, 76)
	return s.st.box.Width(max(10, w-2)).Render(strings.Join(lines, "\n"))
}

// describe is the short message the viewer sees for a service error, in
// the words every keyturn client uses ([mpawords.Error]), said to "you";
// the service has already logged the cause.
func describe(err error) string {
	if err == nil {
		return ""
	}
	sentence, _ := mpawords.Error(err, exitcode.Command, mpawords.Subject{})
	if !mpawords.Known(err) {
		return "failed: " + sentence
	}
	return sentence
}
