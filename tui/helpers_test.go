package tui

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/charmbracelet/lipgloss"
	"github.com/google/go-cmp/cmp"
	"github.com/muesli/termenv"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

func TestMain(m *testing.M) {
	// bubbles and lipgloss fall back to the default renderer in places;
	// pin it too, so no test depends on the terminal running it.
	lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// start is the beginning of a TOTP step.
var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is a real Service on an in-memory Badger store, with approvers
// registered through oathtool codes and requests created through the
// service, as the gate would.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	clock *mpatest.Clock
	svc   *mpa.Service
	*mpatest.Approvers
	ids []string // created request ids, in order, for masking
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f, _ := newFixtureOn(t, nil)
	return f
}

// newFixtureOn is newFixture with the Service's options adjusted by edit
// (InGroup, say) if set; it returns the store too, for a test that changes
// it behind the Service's back.
func newFixtureOn(t testing.TB, edit func(*mpa.Options)) (*fixture, *badgerstore.Store) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := mpatest.NewClock(start)
	opts := mpa.Options{Now: clock.Now, Logger: logger, Node: "gate-1"}
	if edit != nil {
		edit(&opts)
	}
	svc := mpa.New(st, opts)
	f := &fixture{t: t, ctx: context.Background(), clock: clock, svc: svc}
	f.Approvers = mpatest.NewApprovers(t, f.ctx, svc, clock)
	return f, st
}

// why builds a policy decision's why for cmd, matching each of words at
// its first occurrence, as the policy package encodes it.
func why(action, rule, cmd string, words ...string) json.RawMessage {
	type w struct {
		Text   string `json:"text"`
		Offset int    `json:"offset"`
		End    int    `json:"end"`
	}
	var ws []w
	for _, s := range words {
		i := strings.Index(cmd, s)
		ws = append(ws, w{s, i, i + len(s)})
	}
	b, err := json.Marshal([]map[string]any{{"action": action, "rule": rule, "words": ws}})
	if err != nil {
		panic(err)
	}
	return b
}

func (f *fixture) create(requester, service, action, target, cmd, reason string, words ...string) mpa.Request {
	f.t.Helper()
	r, err := f.svc.Create(f.ctx, mpa.NewRequest{
		Actions:   []mpa.ActionRef{{Name: action, Service: service}},
		Target:    target,
		Command:   cmd,
		Why:       why(action, action+"-rule", cmd, words...),
		Requester: requester,
		Reason:    reason,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.ids = append(f.ids, r.ID)
	return r
}

func (f *fixture) vote(id, user, comment string, approve bool) mpa.Request {
	f.t.Helper()
	in := mpa.VoteInput{Code: f.Code(user), Comment: comment}
	var r mpa.Request
	var err error
	if approve {
		r, err = f.svc.Approve(f.ctx, id, user, in)
	} else {
		r, err = f.svc.Reject(f.ctx, id, user, in)
	}
	if err != nil {
		f.t.Fatalf("vote on %s by %s: %v", id, user, err)
	}
	return r
}

// longCommand is wider than any terminal in the tests, to show it wraps.
const longCommand = `psql -h db-1 -c "DELETE FROM sessions WHERE created_at < now() - interval '30 days' AND user_id IN (SELECT id FROM users WHERE disabled = true)"`

// populate creates the requests every view test shows: some pending (one
// of them bob's own, one half approved), and one of each final state.
func (f *fixture) populate() {
	f.t.Helper()
	f.Register("alice", "bob", "carol")
	// One request left to lapse: seven days pass after it.
	f.create("dave", "process", "kill_process", "web-9", "kill -HUP 1", "reload", "kill")
	f.clock.Advance(7*24*time.Hour + time.Hour)

	f.create("dave", "process", "kill_process", "web-1", "kill -9 4242", "stuck worker since the deploy", "kill", "-9")
	f.clock.Advance(time.Minute)
	f.create("bob", "systemd", "restart_service", "web-2", "systemctl restart nginx", "config reload failed", "systemctl", "restart")
	f.clock.Advance(time.Minute)
	r3 := f.create("dave", "database", "delete_rows", "db-1", longCommand, "purge stale sessions (ticket OPS-1234)", "DELETE FROM")
	f.vote(r3.ID, "carol", "backup checked", true)
	f.Step()

	r4 := f.create("dave", "process", "kill_process", "web-3", "kill -9 1", "try", "kill", "-9")
	f.vote(r4.ID, "carol", "never kill init", false)
	f.Step()
	r5 := f.create("erin", "systemd", "restart_service", "web-4", "systemctl restart app", "deploy", "systemctl")
	f.vote(r5.ID, "alice", "ok", true)
	f.vote(r5.ID, "carol", "", true)
	if _, err := f.svc.BeginExecution(f.ctx, r5.ID, "erin"); err != nil {
		f.t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	if _, err := f.svc.FinishExecution(f.ctx, r5.ID, mpa.ExecResult{ExitStatus: 3, OutputBytes: 120}); err != nil {
		f.t.Fatal(err)
	}
	f.Step()
	r6 := f.create("dave", "process", "kill_process", "web-5", "kill 77", "oops", "kill")
	if _, err := f.svc.Cancel(f.ctx, r6.ID, "dave"); err != nil {
		f.t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute)
}

// mask replaces the random request ids with ones numbered in creation
// order, of the same length so that no column moves.
func (f *fixture) mask(s string) string {
	for i, id := range f.ids {
		s = strings.ReplaceAll(s, id, fmt.Sprintf("req-%010d", i+1))
	}
	return s
}

func testRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(&strings.Builder{})
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

// model is the console for viewer on f's service, at the fixture's clock.
func (f *fixture) model(viewer Viewer, w, h int) Model {
	return f.modelWith(viewer, w, h, Options{})
}

// modelWith is model with more options set.
func (f *fixture) modelWith(viewer Viewer, w, h int, o Options) Model {
	o.Renderer, o.Now, o.Width, o.Height = testRenderer(), f.clock.Now, w, h
	return New(f.ctx, f.svc, viewer, o)
}

// golden compares got with testdata/NAME.golden (NAME flattened from the
// test's name), rewriting it under -update. The flag is the one the
// golden package behind teatest registers.
func golden(t *testing.T, got string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join("testdata", name+".golden")
	// Trailing spaces are noise to editors and reviewers, not content.
	lines := strings.Split(got, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	got = strings.Join(lines, "\n") + "\n"
	if fl := flag.Lookup("update"); fl != nil && fl.Value.String() == "true" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, d)
	}
}

// mpaAll lists every stored request.
var mpaAll = mpa.ListFilter{}
