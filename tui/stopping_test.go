package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// When the gate stops, an idle console quits at once; one with a vote
// being typed warns and stays until the vote is sent.
func TestStoppingClosesIdleConsole(t *testing.T) {
	f := newFixture(t)
	m := f.model(bob, 80, 24)
	next, cmd := m.Update(StoppingMsg{})
	if cmd == nil {
		t.Fatal("an idle console did not quit when the gate stopped")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok || !next.(Model).stopping {
		t.Errorf("idle console: cmd %T, stopping %v; want tea.Quit and stopping", cmd(), next.(Model).stopping)
	}

	m = f.model(bob, 80, 24)
	m.dialog.open = true
	next, cmd = m.Update(StoppingMsg{})
	if cmd != nil {
		t.Errorf("a console with a vote being typed quit at once")
	}
	if v := next.(Model).View(); !strings.Contains(v, "the gate is shutting down") {
		t.Errorf("no warning shown:\n%s", v)
	}
}

// A broken policies.yaml on disk is shown to approvers, not to requesters.
func TestPolicyProblemShownToApprovers(t *testing.T) {
	f := newFixture(t)
	problem := func() string { return `policies.yaml:5:5: unknown field "quorom"` }
	for _, tc := range []struct {
		viewer Viewer
		want   bool
	}{{bob, true}, {dave, false}} {
		m := New(f.ctx, f.svc, tc.viewer, Options{Renderer: testRenderer(), Now: f.clock.Now, Width: 200, Height: 24, PolicyProblem: problem})
		got := strings.Contains(m.View(), "policies.yaml on disk is broken; the last good policy stays in force: policies.yaml:5:5")
		if got != tc.want {
			t.Errorf("%s sees the policy problem: %v; want %v\n%s", tc.viewer.Name, got, tc.want, m.View())
		}
	}
}

// A terminal too small for the QR code gets the secret and a request to
// enlarge the window, never a cropped code.
func TestSmallTerminalNoCroppedQR(t *testing.T) {
	f := newFixture(t)
	qr := strings.Repeat(strings.Repeat("█", 40)+"\n", 20)
	for _, size := range [][2]int{{30, 40}, {80, 20}} {
		m := f.model(Viewer{Name: "frank", Approver: true}, size[0], size[1])
		m.view, m.register.state, m.register.qr = viewRegister, regIssued, qr
		m.register.info.Secret, m.register.info.URL = "JBSWY3DPEHPK3PXP", "otpauth://totp/keyturn:frank?secret=JBSWY3DPEHPK3PXP"
		v := m.register.view(&m.s)
		if strings.Contains(v, "█") {
			t.Errorf("%dx%d: part of the QR code drawn:\n%s", size[0], size[1], v)
		}
		if !strings.Contains(v, "JBSWY3DPEHPK3PXP") || !strings.Contains(v, "enlarge the window") {
			t.Errorf("%dx%d: no secret or no request to enlarge:\n%s", size[0], size[1], v)
		}
	}
	m := f.model(Viewer{Name: "frank", Approver: true}, 100, 40)
	m.view, m.register.state, m.register.qr = viewRegister, regIssued, qr
	if v := m.register.view(&m.s); strings.Count(v, strings.Repeat("█", 40)) != 20 {
		t.Errorf("100x40: the QR code is not drawn whole:\n%s", v)
	}
}
