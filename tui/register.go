package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// regState is where the viewer is in TOTP registration, as far as the
// console knows.
type regState int

const (
	regUnknown    regState = iota // not asked yet, or not an approver
	regNone                       // an approver with no secret in force
	regIssued                     // a secret was issued in this session; waiting for its code
	regHeld                       // the code was confirmed; other approvers must approve
	regRegistered                 // may approve
)

// registerModel is the TOTP registration view: the viewer's state, the
// secret issued in this session (shown once), and the confirming code
// being typed.
type registerModel struct {
	state    regState
	approver mpa.Approver
	info     mpa.Registration
	qr       string // info.URL as a QR code (mpawords.QR)
	code     field
	msg      string
	err      string
}

func newRegister(st styles) registerModel {
	r := registerModel{code: newField(st, "code: ", true)}
	r.code.limit = 8
	return r
}

// learned takes the viewer's registration state from the service. ok is
// false, with the error, when the service could not say.
func (r registerModel) learned(msg approverMsg) (registerModel, error) {
	switch {
	case errors.Is(msg.err, mpa.ErrNotFound):
		r.state = regNone
	case msg.err != nil:
		return r, msg.err
	case msg.a.Status == mpa.Registered:
		r.state = regRegistered
	case msg.a.Status == mpa.PendingApproval:
		r.state = regHeld
	default:
		r.state = regNone
	}
	r.approver = msg.a
	return r, nil
}

// needed reports whether the viewer must register before deciding
// anything: the console opens on this view then.
func (r registerModel) needed() bool { return r.state == regNone || r.state == regHeld }

// typing reports whether the code prompt takes every key.
func (r registerModel) typing() bool { return r.state == regIssued }

// update issues a secret (enter or g) or, once one is issued, edits and
// sends the confirming code. The root leaves the view on esc.
func (r registerModel) update(s *shared, msg tea.KeyMsg) (registerModel, tea.Cmd) {
	k := s.keys
	if r.state == regIssued {
		if msg.Type == tea.KeyEnter {
			code := strings.TrimSpace(r.code.text())
			if code == "" {
				r.err = "enter the code your authenticator shows"
				return r, nil
			}
			r.err, r.msg = "", "checking…"
			r.code.set("")
			return r, completeCmd(s.ctx, s.svc, s.viewer.Name, code)
		}
		r.code = r.code.update(msg)
		return r, nil
	}
	if (key.Matches(msg, k.Open) || key.Matches(msg, k.Register)) && r.state == regNone {
		r.msg, r.err = "issuing a secret…", ""
		return r, initiateCmd(s.ctx, s.svc, s.viewer.Name)
	}
	return r, nil
}

// issued shows the secret the service issued, or its refusal.
func (r registerModel) issued(msg registrationMsg) registerModel {
	if msg.err != nil {
		r.msg, r.err = "", describe(msg.err)
		return r
	}
	r.state, r.info, r.qr, r.msg = regIssued, msg.reg, msg.qr, ""
	r.code.focus()
	return r
}

// confirmed takes the service's answer to the code. done is true once the
// viewer may approve: the root then says when the next code is accepted
// and goes back to the queue.
func (r registerModel) confirmed(msg registeredMsg) (_ registerModel, done bool) {
	r.msg = ""
	if msg.err != nil {
		r.err = describe(msg.err)
		return r, false
	}
	r.code.blur()
	r.approver = msg.a
	// The secret is no longer shown once confirmed.
	r.info, r.qr = mpa.Registration{}, ""
	if msg.held != nil {
		r.state = regHeld
		r.approver.Request = msg.held.ID
		return r, false
	}
	r.state = regRegistered
	return r, true
}

// nextCode says when the code after the one just used is accepted: that
// one cannot approve anything.
func (r registerModel) nextCode() string {
	next := time.Unix((r.approver.LastStep+1)*30, 0).UTC()
	return "registered: you can approve with your next code, from " + next.Format("15:04:05 UTC")
}

func (r registerModel) view(s *shared) string {
	w := s.width
	var lines []string
	text := func(t string) {
		lines = append(lines, wrapText(t, max(10, w))...)
	}
	switch r.state {
	case regRegistered:
		text("You are a registered approver.")
	case regHeld:
		text("Your code was confirmed. Registration is waiting for other approvers to approve request " +
			orDash(r.approver.Request) + "; until then you cannot approve.")
	case regIssued:
		text("Scan the QR code with your authenticator app, or enter the secret by hand, then type the code it shows.")
		lines = append(lines, "")
		lines = append(lines, r.qrLines(s)...)
		lines = append(lines, s.st.label.Render("Secret ")+r.info.Secret)
		for i, l := range wrap(r.info.URL, max(10, w-7)) {
			p := s.st.label.Render("URL    ")
			if i > 0 {
				p = "       "
			}
			lines = append(lines, p+l)
		}
		lines = append(lines, r.code.view())
	default:
		text("You have the approver role but no TOTP secret yet, so you cannot approve.")
		lines = append(lines, "")
		text("Press enter to issue a secret: it is shown once, as a QR code and as text. Make sure nobody can see your screen.")
	}
	if r.msg != "" {
		lines = append(lines, s.st.dim.Render(r.msg))
	}
	if r.err != "" {
		lines = append(lines, s.st.err.Render(r.err))
	}
	if h := s.body; len(lines) > h && r.state == regIssued {
		// Never drop the code prompt: what gives way is the text above.
		lines = lines[len(lines)-h:]
	}
	return strings.Join(lines, "\n")
}

// qrLines is the QR code, whole, or a request to enlarge the window: a
// QR code is whole or useless, so one that does not fit is not drawn
// cropped; the secret below says the same.
func (r registerModel) qrLines(s *shared) []string {
	w := s.width
	qr := strings.Split(strings.TrimRight(r.qr, "\n"), "\n")
	qrW := 0
	for _, l := range qr {
		qrW = max(qrW, lipgloss.Width(l))
	}
	if qrW <= w && len(qr)+6 <= s.body {
		return qr
	}
	var lines []string
	for _, l := range wrapText(fmt.Sprintf(
		"The terminal is too small for the QR code (it needs %dx%d): enlarge the window to scan it, or type the secret below into your app.",
		qrW, len(qr)+8), max(10, w)) {
		lines = append(lines, s.st.warn.Render(l))
	}
	return lines
}
