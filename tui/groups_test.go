package tui

import (
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// groupsFixture is a fixture whose service knows these groups.
func groupsFixture(t *testing.T, groups map[string][]string) *fixture {
	t.Helper()
	f, _ := newFixtureOn(t, func(o *mpa.Options) {
		o.InGroup = func(u, g string) bool { return slices.Contains(groups[u], g) }
	})
	f.ctx = t.Context()
	return f
}

// The detail view shows which lines of the approvers rule are met and who
// can still approve; the queue of an approver outside the groups it still
// needs marks it.
func TestGroupsInConsole(t *testing.T) {
	f := groupsFixture(t, map[string][]string{"carol": {"storage"}, "erin": {"storage"}, "dave": {"security"}})
	f.Register("carol", "erin", "dave")
	r, err := f.svc.Create(f.ctx, mpa.NewRequest{
		Actions: []mpa.ActionRef{{Name: "delete_snapshot", Service: "storage"}}, Target: "nas-1",
		Command: "zfs destroy tank@old", Requester: "alice", RequiredApprovals: 2,
		Rules: []mpa.GroupRule{{Action: "delete_snapshot", Lines: []mpa.GroupLine{{Group: "storage", Count: 1}, {Group: "security", Count: 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ids = append(f.ids, r.ID)
	f.vote(r.ID, "carol", "", true)

	tm := f.console(t, Viewer{Name: "dave", Approver: true}, "1 pending")
	keys(tm, tea.KeyEnter)
	waitFor(t, tm, "can still approve: dave")

	// erin is in storage, whose line carol filled: her queue marks it.
	m := f.model(Viewer{Name: "erin", Approver: true}, 120, 30)
	m.upsert(r)
	got, err := f.svc.Get(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.upsert(got)
	q := m.queue.view(&m.s, filterSpec{})
	if !strings.Contains(q, "- "+got.ID) {
		t.Fatalf("erin's queue does not mark the request:\n%s", q)
	}
	// dave's does not.
	m2 := f.model(Viewer{Name: "dave", Approver: true}, 120, 30)
	m2.upsert(got)
	if q := m2.queue.view(&m2.s, filterSpec{}); strings.Contains(q, "- "+got.ID) {
		t.Fatalf("dave's queue marks a request he can help:\n%s", q)
	}
}
