package tui

import (
	"encoding/json"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// An update_policy request shows approvers the change itself, line by
// line, and a request that runs with a terminal says so.
func TestDetailShowsChangeAndTerminal(t *testing.T) {
	f := newFixture(t)
	f.Register("bob", "carol")
	if _, err := f.svc.Create(f.ctx, mpa.NewRequest{
		Kind: mpa.KindUpdatePolicy, Actions: []mpa.ActionRef{mpa.ActionUpdatePolicy}, Requester: mpa.SystemActor,
		Command: "--- policies.yaml (in force)\n+++ policies.yaml (changed)\n-shell: deny\n+shell: allow\n",
		Payload: json.RawMessage(`{"text":"version: 1\nshell: allow\n"}`),
	}); err != nil {
		t.Fatal(err)
	}
	tm := f.console(t, Viewer{Name: "bob", Approver: true}, "1 pending")
	keys(tm, tea.KeyEnter)
	waitFor(t, tm, "+shell: allow")

	f2 := newFixture(t)
	f2.Register("bob")
	if _, err := f2.svc.Create(f2.ctx, mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "interactive_shell", Service: "shell"}}, Target: "web-1",
		Command: "vi /etc/hosts", Requester: "alice", PTY: true,
	}); err != nil {
		t.Fatal(err)
	}
	tm2 := f2.console(t, Viewer{Name: "bob", Approver: true}, "1 pending")
	keys(tm2, tea.KeyEnter)
	waitFor(t, tm2, "runs with a terminal")
}
