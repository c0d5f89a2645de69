package tui

import (
	"errors"
	"fmt"
	"github.com/charmbracelet/lipgloss"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// onApprover learns where the viewer is in registration. An approver with
// no secret in force is taken to the registration view first, since they
// can decide nothing until they have one.
func (m Model) onApprover(msg approverMsg) (tea.Model, tea.Cmd) {
	switch {
	case errors.Is(msg.err, mpa.ErrNotFound):
		m.reg = regNone
	case msg.err != nil:
		m.setFlash("registration state: "+describe(msg.err), true)
		return m, nil
	case msg.a.Status == mpa.Registered:
		m.reg = regRegistered
	case msg.a.Status == mpa.PendingApproval:
		m.reg = regHeld
	default:
		m.reg = regNone
	}
	m.approver = msg.a
	if m.reg == regNone || m.reg == regHeld {
		m.view = viewRegister
	}
	return m, nil
}

func (m Model) startRegister() (tea.Model, tea.Cmd) {
	if !m.viewer.Approver || m.reg == regRegistered {
		return m, nil
	}
	m.view = viewRegister
	return m, nil
}

func (m Model) registerKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	if m.reg == regIssued {
		switch msg.Type {
		case tea.KeyEsc:
			m.regCode.blur()
			m.view = viewQueue
			return m, nil
		case tea.KeyEnter:
			code := strings.TrimSpace(m.regCode.text())
			if code == "" {
				m.regErr = "enter the code your authenticator shows"
				return m, nil
			}
			m.regErr, m.regMsg = "", "checking…"
			m.regCode.set("")
			return m, completeCmd(m.ctx, m.svc, m.viewer.Name, code)
		}
		m.regCode = m.regCode.update(msg)
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		m.view = viewQueue
	case key.Matches(msg, k.Open), key.Matches(msg, k.Register):
		if m.reg == regNone {
			m.regMsg, m.regErr = "issuing a secret…", ""
			return m, initiateCmd(m.ctx, m.svc, m.viewer.Name)
		}
	}
	return m, nil
}

func (m Model) updateRegister(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case registrationMsg:
		if msg.err != nil {
			m.regMsg, m.regErr = "", describe(msg.err)
			return m, nil
		}
		m.reg, m.regInfo, m.regQR, m.regMsg = regIssued, msg.reg, msg.qr, ""
		m.regCode.focus()
		return m, nil
	case registeredMsg:
		m.regMsg = ""
		if msg.err != nil {
			m.regErr = describe(msg.err)
			return m, nil
		}
		m.regCode.blur()
		m.approver = msg.a
		// The secret is no longer shown once confirmed.
		m.regInfo, m.regQR = mpa.Registration{}, ""
		if msg.held != nil {
			m.reg = regHeld
			m.approver.Request = msg.held.ID
			return m, nil
		}
		m.reg = regRegistered
		m.view = viewQueue
		// The code just used cannot approve anything: say when the next
		// one will be accepted.
		next := time.Unix((msg.a.LastStep+1)*30, 0).UTC()
		m.setFlash("registered: you can approve with your next code, from "+next.Format("15:04:05 UTC"), false)
	}
	return m, nil
}

func (m Model) registerView() string {
	w := m.width
	var lines []string
	text := func(s string) {
		lines = append(lines, wrapText(s, max(10, w))...)
	}
	switch m.reg {
	case regRegistered:
		text("You are a registered approver.")
	case regHeld:
		text("Your code was confirmed. Registration is waiting for other approvers to approve request " +
			orDash(m.approver.Request) + "; until then you cannot approve.")
	case regIssued:
		text("Scan the QR code with your authenticator app, or enter the secret by hand, then type the code it shows.")
		lines = append(lines, "")
		qr := strings.Split(strings.TrimRight(m.regQR, "\n"), "\n")
		qrW := 0
		for _, l := range qr {
			qrW = max(qrW, lipgloss.Width(l))
		}
		// A QR code is whole or useless: one that does not fit is not
		// drawn cropped; the secret below says the same.
		if qrW > w || len(qr)+6 > m.bodyHeight() {
			for _, l := range wrapText(fmt.Sprintf(
				"The terminal is too small for the QR code (it needs %dx%d): enlarge the window to scan it, or type the secret below into your app.",
				qrW, len(qr)+8), max(10, w)) {
				lines = append(lines, m.st.warn.Render(l))
			}
		} else {
			lines = append(lines, qr...)
		}
		lines = append(lines, m.st.label.Render("Secret ")+m.regInfo.Secret)
		for i, l := range wrap(m.regInfo.URL, max(10, w-7)) {
			p := m.st.label.Render("URL    ")
			if i > 0 {
				p = "       "
			}
			lines = append(lines, p+l)
		}
		lines = append(lines, m.regCode.view())
	default:
		text("You have the approver role but no TOTP secret yet, so you cannot approve.")
		lines = append(lines, "")
		text("Press enter to issue a secret: it is shown once, as a QR code and as text. Make sure nobody can see your screen.")
	}
	if m.regMsg != "" {
		lines = append(lines, m.st.dim.Render(m.regMsg))
	}
	if m.regErr != "" {
		lines = append(lines, m.st.err.Render(m.regErr))
	}
	if h := m.bodyHeight(); len(lines) > h && m.reg == regIssued {
		// Never drop the code prompt: what gives way is the text above.
		lines = lines[len(lines)-h:]
	}
	return strings.Join(lines, "\n")
}
