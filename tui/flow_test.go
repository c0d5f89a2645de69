package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// console starts viewer's console at 120x40 and waits for the queue.
func (f *fixture) console(t *testing.T, viewer Viewer, pending string) *teatest.TestModel {
	t.Helper()
	tm := teatest.NewTestModel(t, f.model(viewer, 120, 40), teatest.WithInitialTermSize(120, 40))
	t.Cleanup(func() { tm.Quit() })
	waitFor(t, tm, pending)
	return tm
}

// decide opens the dialog on the queue's row-th request (from 0), types
// code and comment, and submits.
func decide(tm *teatest.TestModel, row int, verb, code, comment string) {
	for range row {
		keys(tm, tea.KeyDown)
	}
	tm.Type(verb)
	tm.Type(code)
	if comment != "" {
		keys(tm, tea.KeyTab)
		tm.Type(comment)
	}
	keys(tm, tea.KeyEnter)
}

func (f *fixture) get(id string) mpa.Request {
	f.t.Helper()
	r, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// TestApproveThroughModel: two approvers approve dave's request from
// their consoles with oathtool codes; the second reaches quorum.
func TestApproveThroughModel(t *testing.T) {
	f := newFixture(t)
	f.populate()
	id := f.ids[1] // dave's kill -9 4242, first in the queue

	tm := f.console(t, bob, "3 pending")
	decide(tm, 0, "a", f.Code("bob"), "looked at the worker")
	waitFor(t, tm, "1 of 2 approvals")
	r := f.get(id)
	if r.Status != mpa.StatusPending || len(r.Approvals) != 1 || r.Approvals[0].Approver != "bob" ||
		r.Approvals[0].Comment != "looked at the worker" {
		t.Fatalf("after bob: %s %+v", r.Status, r.Approvals)
	}

	tm2 := f.console(t, Viewer{Name: "alice", Approver: true}, "3 pending")
	decide(tm2, 0, "a", f.Code("alice"), "")
	waitFor(t, tm2, "now approved")
	if r := f.get(id); r.Status != mpa.StatusApproved {
		t.Fatalf("after alice: %s", r.Status)
	}
	// The approved request leaves bob's queue, pushed by the store, and
	// his detail view shows alice's approval.
	waitFor(t, tm, "approved by alice")
	keys(tm, tea.KeyEsc)
	waitFor(t, tm, "2 pending")
}

// TestRejectThroughModel: a rejection needs a comment; with one, it
// rejects the request.
func TestRejectThroughModel(t *testing.T) {
	f := newFixture(t)
	f.populate()
	id := f.ids[1]
	tm := f.console(t, Viewer{Name: "carol", Approver: true}, "3 pending")
	code := f.Code("carol")
	decide(tm, 0, "r", code, "")
	waitFor(t, tm, "a comment is required")
	if r := f.get(id); r.Status != mpa.StatusPending {
		t.Fatalf("rejected without a comment: %s", r.Status)
	}
	submit(t, tm, "use the runbook instead", "rejected "+id)
	r := f.get(id)
	if r.Status != mpa.StatusRejected || len(r.Rejections) != 1 || r.Rejections[0].Comment != "use the runbook instead" {
		t.Fatalf("after carol: %s %+v", r.Status, r.Rejections)
	}
}

// TestDialogErrors: the service's refusals are shown in the dialog.
func TestDialogErrors(t *testing.T) {
	setup := func(t *testing.T) *fixture {
		f := newFixture(t)
		f.populate()
		return f
	}
	t.Run("wrong code", func(t *testing.T) {
		f := setup(t)
		tm := f.console(t, bob, "3 pending")
		code := f.Code("bob")
		bad := "000000"
		if code == bad {
			bad = "111111"
		}
		decide(tm, 0, "a", bad, "")
		// The words every client uses (mpawords), said to "you".
		waitFor(t, tm, "wrong TOTP code; check the code in your authenticator app")
	})
	t.Run("self approval", func(t *testing.T) {
		f := setup(t)
		tm := f.console(t, bob, "3 pending")
		decide(tm, 1, "a", f.Code("bob"), "") // row 1 is bob's own
		waitFor(t, tm, "your own request")
	})
	t.Run("replay", func(t *testing.T) {
		f := setup(t)
		tm := f.console(t, Viewer{Name: "alice", Approver: true}, "3 pending")
		code := f.Code("alice")
		decide(tm, 0, "a", code, "")
		waitFor(t, tm, "1 of 2 approvals")
		keys(tm, tea.KeyEsc)
		decide(tm, 1, "a", code, "") // the same code on bob's request
		waitFor(t, tm, "already used")
	})
	t.Run("decided meanwhile", func(t *testing.T) {
		f := setup(t)
		tm := f.console(t, Viewer{Name: "alice", Approver: true}, "pending")
		tm.Type("a")
		waitFor(t, tm, "TOTP code")
		f.vote(f.ids[1], "carol", "no", false) // carol rejects it first
		submit(t, tm, f.Code("alice"), "already decided: it is rejected")
	})
	t.Run("lockout", func(t *testing.T) {
		f := setup(t)
		tm := f.console(t, Viewer{Name: "carol", Approver: true}, "pending")
		tm.Type("a")
		for range 6 {
			tm.Type("999999")
			keys(tm, tea.KeyEnter)
		}
		waitFor(t, tm, "locked out")
	})
}

// TestLiveQueue: requests created, cancelled and expiring reach the queue
// as the store commits them, without polling.
func TestLiveQueue(t *testing.T) {
	f := newFixture(t)
	f.populate()
	tm := f.console(t, bob, "3 pending")
	f.create("erin", "process", "kill_process", "web-7", "kill 1234", "hung", "kill")
	waitFor(t, tm, "4 pending")
	if _, err := f.svc.Cancel(f.ctx, f.ids[len(f.ids)-1], "erin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tm, "3 pending")
	// Past every expiry, the next tick empties the queue.
	f.clock.Advance(8 * 24 * time.Hour)
	waitFor(t, tm, "0 pending")
}

// TestRequesterCancels: someone without the approver role sees only
// their own requests and cancels one.
func TestRequesterCancels(t *testing.T) {
	f := newFixture(t)
	f.populate()
	tm := f.console(t, dave, "2 pending")
	tm.Type("a") // not theirs to approve: nothing happens
	tm.Type("c")
	waitFor(t, tm, "y to confirm")
	tm.Type("y")
	waitFor(t, tm, "cancelled")
	if r := f.get(f.ids[1]); r.Status != mpa.StatusCancelled {
		t.Fatalf("status %s", r.Status)
	}
	tm.Quit()
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	for _, r := range m.s.queue {
		if r.Requester != "dave" {
			t.Errorf("dave's queue shows %s's request %s", r.Requester, r.ID)
		}
	}
}

// TestRegistration: an approver with no secret registers from the
// console with the code from the issued secret.
func TestRegistration(t *testing.T) {
	f := newFixture(t)
	f.populate()
	tm := f.console(t, Viewer{Name: "frank", Approver: true}, "no TOTP secret yet")
	keys(tm, tea.KeyEnter)
	waitFor(t, tm, "otpauth://")
	tm.Quit()
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	secret := m.register.info.Secret
	if secret == "" || !strings.Contains(m.register.qr, "▀") {
		t.Fatalf("no secret or QR code: %q", m.register.qr)
	}
	if !strings.Contains(m.View(), secret) {
		t.Fatalf("secret not shown:\n%s", m.View())
	}

	// A new program on the same state, as after typing the code.
	var cmd tea.Cmd
	var mm tea.Model = m
	mm, _ = mm.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(mpatest.Oathtool(t, secret, f.clock.Now()))})
	mm, cmd = mm.Update(tea.KeyMsg{Type: tea.KeyEnter})
	mm, _ = mm.Update(cmd())
	if got := mm.(Model); got.register.state != regRegistered {
		t.Fatalf("reg state %v, err %q", got.register.state, got.register.err)
	}
	// The code just used approves nothing: the console says when the next
	// one is accepted (the next 30 s step).
	next := f.clock.Now().Truncate(30 * time.Second).Add(30 * time.Second).UTC().Format("15:04:05 UTC")
	if got := mm.(Model).flash; got != "registered: you can approve with your next code, from "+next {
		t.Errorf("flash after registering = %q; want the next code's time %s", got, next)
	}
	a, err := f.svc.Approver(f.ctx, "frank")
	if err != nil || a.Status != mpa.Registered {
		t.Fatalf("frank: %+v %v", a, err)
	}
}

// TestRegistrationHeld: with MPA enabled, a new approver's confirmed code
// waits for the existing approvers, and the console says so.
func TestRegistrationHeld(t *testing.T) {
	f := newFixture(t)
	f.populate()
	if _, err := f.svc.SetEnabled(f.ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	m := f.model(Viewer{Name: "frank", Approver: true}, 80, 24)
	var mm tea.Model = m
	mm, _ = mm.Update(approverCmd(f.ctx, f.svc, "frank")())
	mm, cmd := mm.Update(tea.KeyMsg{Type: tea.KeyEnter})
	mm, _ = mm.Update(cmd())
	secret := mm.(Model).register.info.Secret
	mm, _ = mm.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(mpatest.Oathtool(t, secret, f.clock.Now()))})
	mm, cmd = mm.Update(tea.KeyMsg{Type: tea.KeyEnter})
	mm, _ = mm.Update(cmd())
	got := mm.(Model)
	if got.register.state != regHeld || !strings.Contains(got.View(), "waiting for other approvers") {
		t.Fatalf("reg %v, err %q:\n%s", got.register.state, got.register.err, got.View())
	}
	if strings.Contains(got.View(), secret) {
		t.Fatal("secret still shown after confirmation")
	}
}
