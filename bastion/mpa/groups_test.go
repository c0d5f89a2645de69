package mpa_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// groupTable is the groups in force, changeable between votes as an
// operator changes keyturn.yaml.
type groupTable struct {
	mu sync.Mutex
	m  map[string][]string
}

func (g *groupTable) in(user, group string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.m[user], group)
}

func (g *groupTable) set(user string, groups ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[user] = groups
}

var storageAndSecurity = []mpa.GroupRule{{Action: "delete_snapshot",
	Lines: []mpa.GroupLine{{Group: "storage", Count: 1}, {Group: "security", Count: 1}}}}

// step is one thing that happens to a request in a quorum table test.
type step struct {
	approve string   // an approver votes
	set     []string // or: set[0]'s groups become set[1:]
	release bool     // or: the requester tries to run it
	wantErr error
	want    mpa.Status
}

func TestGroupQuorum(t *testing.T) {
	groups := map[string][]string{
		"alice": {"storage"}, // the requester
		"carol": {"storage"},
		"erin":  {"storage"},
		"dave":  {"security"},
		"both":  {"storage", "security"},
		"frank": {"oncall-db"},
		"gina":  {"security", "oncall-db"},
		"hank":  {},
	}
	tests := []struct {
		name     string
		rules    []mpa.GroupRule
		required int
		steps    []step
	}{
		{"one from each group", storageAndSecurity, 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusApproved},
			{release: true, want: mpa.StatusExecuting},
		}},
		{"two from one group do not release it", storageAndSecurity, 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{approve: "erin", want: mpa.StatusPending},
			{release: true, wantErr: mpa.ErrNotApproved, want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusApproved},
		}},
		{"one person in both groups counts once", storageAndSecurity, 2, []step{
			{approve: "both", want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusApproved},
		}},
		{"person in both groups first, then storage: a matching, not vote order", storageAndSecurity, 2, []step{
			{approve: "both", want: mpa.StatusPending},
			{approve: "carol", want: mpa.StatusApproved},
		}},
		{"requester in a group never counts", storageAndSecurity, 2, []step{
			{approve: "alice", wantErr: mpa.ErrSelfApproval, want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusPending},
			{approve: "carol", want: mpa.StatusApproved},
		}},
		{"in none of the groups: no vote", storageAndSecurity, 2, []step{
			{approve: "frank", wantErr: mpa.ErrNotInGroup, want: mpa.StatusPending},
			{approve: "hank", wantErr: mpa.ErrNotInGroup, want: mpa.StatusPending},
		}},
		{"removed from a group before voting", storageAndSecurity, 2, []step{
			{set: []string{"carol"}},
			{approve: "carol", wantErr: mpa.ErrNotInGroup, want: mpa.StatusPending},
		}},
		{"group emptied between votes", storageAndSecurity, 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{set: []string{"carol", "oncall-db"}},
			{set: []string{"erin"}},
			{approve: "dave", want: mpa.StatusPending},
			{set: []string{"erin", "storage"}},
			{approve: "erin", want: mpa.StatusApproved},
		}},
		{"caster left the group before release", storageAndSecurity, 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusApproved},
			{set: []string{"carol", "oncall-db"}},
			{release: true, wantErr: mpa.ErrNotApproved, want: mpa.StatusPending},
			{approve: "erin", want: mpa.StatusApproved},
			{release: true, want: mpa.StatusExecuting},
		}},
		{"caster moved to the other group: the matching still meets it", storageAndSecurity, 2, []step{
			{approve: "both", want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusApproved},
			{set: []string{"both", "storage"}},
			{release: true, want: mpa.StatusExecuting},
		}},
		{"several actions: every rule", append(slices.Clone(storageAndSecurity),
			mpa.GroupRule{Action: "kill_process", Lines: []mpa.GroupLine{{Group: "oncall-db", Count: 1}}}), 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{approve: "dave", want: mpa.StatusPending},
			{approve: "frank", want: mpa.StatusApproved},
		}},
		{"several actions: one person may fill a line of each rule", append(slices.Clone(storageAndSecurity),
			mpa.GroupRule{Action: "kill_process", Lines: []mpa.GroupLine{{Group: "oncall-db", Count: 1}}}), 2, []step{
			{approve: "carol", want: mpa.StatusPending},
			{approve: "gina", want: mpa.StatusApproved},
		}},
		{"quorum above the rule: the rest from anyone", []mpa.GroupRule{{Action: "reboot",
			Lines: []mpa.GroupLine{{Group: "storage", Count: 2}}}}, 3, []step{
			{approve: "dave", want: mpa.StatusPending},
			{approve: "gina", want: mpa.StatusPending}, // two, neither storage
			{approve: "carol", want: mpa.StatusPending},
			{approve: "erin", want: mpa.StatusApproved},
		}},
		{"count of two from one group", []mpa.GroupRule{{Action: "reboot",
			Lines: []mpa.GroupLine{{Group: "storage", Count: 2}}}}, 2, []step{
			{approve: "both", want: mpa.StatusPending},
			{approve: "dave", wantErr: mpa.ErrNotInGroup, want: mpa.StatusPending},
			{approve: "erin", want: mpa.StatusApproved},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gt := &groupTable{m: map[string][]string{}}
			for u, g := range groups {
				gt.set(u, g...)
			}
			e := newEnv(t, mpa.Options{InGroup: gt.in})
			e.Register("alice", "carol", "erin", "dave", "both", "frank", "gina", "hank")
			r, err := e.svc.Create(e.ctx, mpa.NewRequest{
				Actions:   []mpa.ActionRef{{Name: "delete_snapshot", Service: "storage"}},
				Target:    "nas-1",
				Command:   "zfs destroy tank@old",
				Requester: "alice", RequiredApprovals: tt.required, Rules: tt.rules,
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				var err error
				switch {
				case s.set != nil:
					gt.set(s.set[0], s.set[1:]...)
					continue
				case s.release:
					_, err = e.svc.BeginExecution(e.ctx, r.ID, "alice")
				default:
					_, err = e.approve(r.ID, s.approve)
				}
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("step %d (%+v): err %v; want %v", i, s, err, s.wantErr)
				}
				got, gerr := e.svc.Get(e.ctx, r.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if got.Status != s.want {
					p, _ := e.svc.Progress(e.ctx, got)
					t.Fatalf("step %d (%+v): status %s; want %s (lines %v)", i, s, got.Status, s.want, p.Lines)
				}
				e.Step()
			}
			e.verifyAudit()
		})
	}
}

// Progress names the lines met and who can still help; CanHelp marks
// the queue of an approver who cannot.
func TestGroupProgress(t *testing.T) {
	gt := &groupTable{m: map[string][]string{
		"carol": {"storage"}, "erin": {"storage"}, "dave": {"security"}, "hank": {},
	}}
	e := newEnv(t, mpa.Options{InGroup: gt.in})
	e.Register("carol", "erin", "dave", "hank")
	r, err := e.svc.Create(e.ctx, mpa.NewRequest{Command: "zfs destroy tank@x", Requester: "alice",
		Actions: []mpa.ActionRef{{Name: "delete_snapshot"}}, RequiredApprovals: 2, Rules: storageAndSecurity})
	if err != nil {
		t.Fatal(err)
	}
	r = e.mustApprove(r.ID, "carol")
	p, err := e.svc.Progress(e.ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range p.Lines {
		lines = append(lines, l.String())
	}
	want := []string{"delete_snapshot: storage 1/1 (carol)", "delete_snapshot: security 0/1"}
	if !slices.Equal(lines, want) || p.Met() {
		t.Fatalf("lines %q (met %v); want %q, not met", lines, p.Met(), want)
	}
	if !slices.Equal(p.CanHelp, []string{"dave"}) {
		t.Fatalf("can help %v; want [dave]: erin's line is full, hank is in no group, carol voted", p.CanHelp)
	}
	for u, want := range map[string]bool{"dave": true, "erin": false, "hank": false, "carol": false, "alice": false} {
		if got := e.svc.CanHelp(r, u); got != want {
			t.Errorf("CanHelp(%s) = %v; want %v", u, got, want)
		}
	}
}

// A request whose rule cannot be met by the registered approvers other
// than its requester is named before it is made.
func TestGroupShortfall(t *testing.T) {
	gt := &groupTable{m: map[string][]string{"alice": {"security"}, "carol": {"storage"}}}
	e := newEnv(t, mpa.Options{InGroup: gt.in})
	e.Register("alice", "carol")
	acts := []mpa.ActionRef{{Name: "delete_snapshot"}}
	short, err := e.svc.GroupShortfall(e.ctx, "alice", acts, storageAndSecurity)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(short, []string{"delete_snapshot: security 0/1"}) {
		t.Fatalf("shortfall %q; want security unmet (alice, the only member, is the requester)", short)
	}
	if short, _ := e.svc.GroupShortfall(e.ctx, "bob", acts, storageAndSecurity); len(short) != 0 {
		t.Fatalf("shortfall for bob %q; want none", short)
	}
}

// Create refuses rules out of bounds.
func TestGroupRulesBounded(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	bad := [][]mpa.GroupRule{
		{{Action: "x"}},
		{{Action: "x", Lines: []mpa.GroupLine{{Group: "", Count: 1}}}},
		{{Action: "x", Lines: []mpa.GroupLine{{Group: "a", Count: 0}}}},
		{{Action: "x", Lines: []mpa.GroupLine{{Group: "a", Count: 1 << 20}}}},
		slices.Repeat(storageAndSecurity, 65),
	}
	for _, rules := range bad {
		_, err := e.svc.Create(e.ctx, mpa.NewRequest{Command: "x", Requester: "alice", Rules: rules})
		if !errors.Is(err, mpa.ErrInvalid) {
			t.Errorf("Create with %d rules: %v; want ErrInvalid", len(rules), err)
		}
	}
}

// Without InGroup nobody is in any group: a rule can never be met.
func TestGroupsFailClosed(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	e.Register("carol", "dave")
	r, err := e.svc.Create(e.ctx, mpa.NewRequest{Command: "x", Requester: "alice", RequiredApprovals: 2, Rules: storageAndSecurity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.approve(r.ID, "carol"); !errors.Is(err, mpa.ErrNotInGroup) {
		t.Fatalf("approve without groups: %v; want ErrNotInGroup", err)
	}
}

// Many approvers from two groups vote at once on one request needing two
// of each: it is approved exactly once, by a vote that really met both
// lines, and every vote is recorded once.
func TestConcurrentGroupApprovals(t *testing.T) {
	const n = 16
	gt := &groupTable{m: map[string][]string{}}
	var users []string
	for i := range n {
		u := fmt.Sprintf("approver%02d", i)
		g := "storage"
		if i%2 == 1 {
			g = "security"
		}
		if i%5 == 0 {
			gt.set(u, "storage", "security")
		} else {
			gt.set(u, g)
		}
		users = append(users, u)
	}
	e := newEnv(t, mpa.Options{InGroup: gt.in})
	e.Register(users...)
	rules := []mpa.GroupRule{{Action: "delete_snapshot",
		Lines: []mpa.GroupLine{{Group: "storage", Count: 4}, {Group: "security", Count: 4}}}}
	r, err := e.svc.Create(e.ctx, mpa.NewRequest{Command: "zfs destroy tank@x", Requester: "alice",
		Actions: []mpa.ActionRef{{Name: "delete_snapshot"}}, RequiredApprovals: 8, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	codes := make([]string, n)
	for i, u := range users {
		codes[i] = e.Code(u)
	}
	// Two Services on one store stand in for two gates: their votes race
	// in the store, not only on one Service's lock.
	other := mpa.New(e.store, mpa.Options{Now: e.clock.Now, Logger: testLogger(t), Node: "gate-2", InGroup: gt.in})
	errs := mpatest.Race(n, func(i int) error {
		svc := e.svc
		if i%3 == 1 {
			svc = other
		}
		_, err := svc.Approve(e.ctx, r.ID, users[i], mpa.VoteInput{Code: codes[i]})
		return err
	})
	ok := mpatest.Succeeded(t, users, errs, mpa.ErrNotPending)
	got := e.approvedOnce(r.ID, ok)
	// The approving vote met both lines: at least four storage and four
	// security members, each counted once.
	p, err := e.svc.Progress(e.ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Met() {
		t.Fatalf("approved with lines %v not met", p.Lines)
	}
}
