package tui

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

var (
	bob  = Viewer{Name: "bob", Approver: true}
	dave = Viewer{Name: "dave"}
)

// waitFor waits until the program has drawn want.
func waitFor(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func keys(tm *teatest.TestModel, ks ...tea.KeyType) {
	for _, k := range ks {
		tm.Send(tea.KeyMsg{Type: k})
	}
}

// submit types text, presses enter, and waits until the program has
// drawn want.
func submit(t *testing.T, tm *teatest.TestModel, text, want string) {
	t.Helper()
	tm.Type(text)
	keys(tm, tea.KeyEnter)
	waitFor(t, tm, want)
}

// openDetail opens the selected request and waits for its audit trail:
// it scrolls down to see it arrive, then back to the top.
func openDetail(t *testing.T, tm *teatest.TestModel) {
	t.Helper()
	keys(tm, tea.KeyEnter)
	for range 8 {
		keys(tm, tea.KeyPgDown)
	}
	waitFor(t, tm, "created by")
	for range 8 {
		keys(tm, tea.KeyPgUp)
	}
}

// openHistory waits for bob's queue of three and tabs to the history.
func openHistory(t *testing.T, tm *teatest.TestModel) {
	t.Helper()
	waitFor(t, tm, "3 pending")
	keys(tm, tea.KeyTab)
	waitFor(t, tm, "completed")
}

// finalView quits the program and returns its last frame, as the model
// draws it, with the request ids masked.
func finalView(t *testing.T, f *fixture, tm *teatest.TestModel) string {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(Model)
	return f.mask(m.View())
}

// TestViews draws every view at 80x24 and 120x40 and compares the frames
// with the golden files (go test ./tui -update rewrites them).
func TestViews(t *testing.T) {
	cases := []struct {
		name    string
		viewer  Viewer
		drive   func(t *testing.T, tm *teatest.TestModel)
		problem string // what is wrong with policies.yaml on disk, if anything
	}{
		{"queue", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
		}, ""},
		{"detail", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
			keys(tm, tea.KeyDown, tea.KeyDown)
			openDetail(t, tm)
		}, ""},
		{"approve_dialog", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
			openDetail(t, tm)
			tm.Type("a123")
			waitFor(t, tm, "•••")
		}, ""},
		{"reject_error", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
			openDetail(t, tm)
			submit(t, tm, "r", "enter the code")
			submit(t, tm, "000000", "a comment is required")
		}, ""},
		{"history", bob, func(t *testing.T, tm *teatest.TestModel) {
			openHistory(t, tm)
		}, ""},
		{"history_filter", bob, func(t *testing.T, tm *teatest.TestModel) {
			openHistory(t, tm)
			submit(t, tm, "/status:rej", "filter: status:rej")
		}, ""},
		{"history_detail", bob, func(t *testing.T, tm *teatest.TestModel) {
			openHistory(t, tm)
			keys(tm, tea.KeyDown)
			openDetail(t, tm)
		}, ""},
		{"requester", dave, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "2 pending")
		}, ""},
		{"help", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
			tm.Type("?")
			waitFor(t, tm, "page down")
		}, ""},
		{"register", Viewer{Name: "frank", Approver: true}, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "no TOTP secret yet")
		}, ""},
		// a on one's own request refuses at once, before any code is asked.
		{"own_request", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "3 pending")
			keys(tm, tea.KeyDown)
			tm.Type("a")
			waitFor(t, tm, "is your own request")
		}, ""},
		// A broken policies.yaml on disk is shown to approvers.
		{"policy_broken", bob, func(t *testing.T, tm *teatest.TestModel) {
			waitFor(t, tm, "policies.yaml on disk is broken")
		}, `policies.yaml:12:5: action "kill_process": unknown field "quorom"`},
	}
	for _, size := range [][2]int{{80, 24}, {100, 40}, {120, 40}, {200, 50}, {56, 20}} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s_%dx%d", tc.name, size[0], size[1]), func(t *testing.T) {
				f := newFixture(t)
				f.populate()
				m := f.model(tc.viewer, size[0], size[1])
				if tc.problem != "" {
					m = f.modelWith(tc.viewer, size[0], size[1], Options{PolicyProblem: func() string { return tc.problem }})
				}
				tm := teatest.NewTestModel(t, m,
					teatest.WithInitialTermSize(size[0], size[1]))
				tc.drive(t, tm)
				golden(t, finalView(t, f, tm))
			})
		}
	}
}
