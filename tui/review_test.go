package tui

import (
	"context"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// recordingBackend is the real service, with a note of every call that
// acts or reads one request, so a test can see what the console asked.
type recordingBackend struct {
	Backend
	mu    sync.Mutex
	calls []string // "approve req-…", "reject …", "cancel …", "events …", "initiate", "complete"
}

func (b *recordingBackend) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, s)
}

func (b *recordingBackend) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *recordingBackend) Approve(ctx context.Context, id, who string, in mpa.VoteInput) (mpa.Request, error) {
	b.note("approve " + id)
	return b.Backend.Approve(ctx, id, who, in)
}

func (b *recordingBackend) Reject(ctx context.Context, id, who string, in mpa.VoteInput) (mpa.Request, error) {
	b.note("reject " + id)
	return b.Backend.Reject(ctx, id, who, in)
}

func (b *recordingBackend) Cancel(ctx context.Context, id, who string) (mpa.Request, error) {
	b.note("cancel " + id)
	return b.Backend.Cancel(ctx, id, who)
}

func (b *recordingBackend) AuditEvents(ctx context.Context, f audit.Filter) iter.Seq2[audit.Event, error] {
	b.note("events " + f.Request)
	return b.Backend.AuditEvents(ctx, f)
}

func (b *recordingBackend) InitiateRegistration(ctx context.Context, user string, force bool) (mpa.Registration, error) {
	b.note("initiate")
	return b.Backend.InitiateRegistration(ctx, user, force)
}

func (b *recordingBackend) CompleteRegistration(ctx context.Context, user, code string) (mpa.Approver, *mpa.Request, error) {
	b.note("complete")
	return b.Backend.CompleteRegistration(ctx, user, code)
}

// reviewKeys are the keys a random walk presses: every binding of the
// console, digits for codes, and a few that mean nothing.
var reviewKeys = func() []tea.KeyMsg {
	var ks []tea.KeyMsg
	for _, t := range []tea.KeyType{tea.KeyUp, tea.KeyDown, tea.KeyPgUp, tea.KeyPgDown, tea.KeyEnter, tea.KeyEsc, tea.KeyTab, tea.KeyBackspace} {
		ks = append(ks, tea.KeyMsg{Type: t})
	}
	for _, r := range "arcygnhjk/?xq0123456789 " {
		ks = append(ks, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	return ks
}()

// runCmd runs cmd as the program would and returns the messages it
// produces, batches flattened. Every command a key produces calls the
// service once and returns; a bound fails the test rather than hang.
func runCmd(t *testing.T, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	if cmd == nil {
		return nil
	}
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a command from a key did not return in 10s")
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, runCmd(t, c)...)
		}
		return out
	}
	if msg == nil {
		return nil
	}
	return []tea.Msg{msg}
}

// walk presses n random keys on a console for viewer that has been told
// of every request (the subscription tells every console of every
// request; the console decides what its viewer sees), feeding each
// command's answer back as the program would. It returns the backend's
// calls and every screen drawn.
func walk(t *testing.T, f *fixture, viewer Viewer, seed uint64, n int) (*recordingBackend, []string) {
	t.Helper()
	all, err := f.svc.List(f.ctx, mpa.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingBackend{Backend: f.svc}
	var m tea.Model = New(f.ctx, rec, viewer, Options{Renderer: testRenderer(), Now: f.clock.Now, Width: 120, Height: 40})
	ended := make(chan mpa.Request)
	close(ended) // the feed's next read ends at once: no goroutine waits on it
	for _, r := range all {
		m, _ = m.Update(requestMsg{r: r, ch: ended})
	}
	if viewer.Approver {
		a, err := f.svc.Approver(f.ctx, viewer.Name)
		m, _ = m.Update(approverMsg{a: a, err: err})
	}
	var screens []string
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for range n {
		var cmd tea.Cmd
		m, cmd = m.Update(reviewKeys[rng.IntN(len(reviewKeys))])
		for _, msg := range runCmd(t, cmd) {
			if _, quit := msg.(tea.QuitMsg); quit {
				continue
			}
			m, _ = m.Update(msg)
		}
		screens = append(screens, m.View())
	}
	return rec, screens
}

// A console walked at random by someone without the approver role never
// votes, never registers, never opens, cancels or shows another's
// request; an approver's never sends a vote on their own request (the
// console refuses it before a code is asked, and the service would
// refuse it after). The console is one model per view since the split:
// each view's keys are checked here against the role, whichever view is
// in front.
func TestReviewConsoleRolesUnderRandomKeys(t *testing.T) {
	f := newFixture(t)
	f.populate()
	own := f.create("carol", "process", "kill_process", "web-7", "kill -9 31337", "carol's own", "kill", "-9")
	all, err := f.svc.List(f.ctx, mpa.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]mpa.Request{}
	for _, r := range all {
		byID[r.ID] = r
	}
	id := func(call string) string { _, id, _ := strings.Cut(call, " "); return id }

	t.Run("requester", func(t *testing.T) {
		dave := Viewer{Name: "dave"}
		opened := 0
		for seed := range uint64(4) {
			rec, screens := walk(t, f, dave, seed, 1500)
			for _, c := range rec.seen() {
				switch verb, _, _ := strings.Cut(c, " "); verb {
				case "approve", "reject", "initiate", "complete":
					t.Errorf("seed %d: a requester's console called %s", seed, c)
				case "events", "cancel":
					if r := byID[id(c)]; r.Requester != "dave" {
						t.Errorf("seed %d: a requester's console called %s, on %s's request", seed, c, r.Requester)
					}
					if verb == "events" {
						opened++
					}
				}
			}
			for _, s := range screens {
				for _, r := range all {
					if r.Requester != "dave" && strings.Contains(s, r.ID) {
						t.Fatalf("seed %d: dave's console shows %s's request %s:\n%s", seed, r.Requester, r.ID, s)
					}
				}
			}
		}
		if opened == 0 {
			t.Error("the walks never opened a request: they test nothing")
		}
	})

	t.Run("approver", func(t *testing.T) {
		carol := Viewer{Name: "carol", Approver: true}
		votes := 0
		for seed := range uint64(4) {
			rec, _ := walk(t, f, carol, 100+seed, 1500)
			for _, c := range rec.seen() {
				verb, _, _ := strings.Cut(c, " ")
				if verb != "approve" && verb != "reject" {
					continue
				}
				votes++
				if id(c) == own.ID {
					t.Errorf("seed %d: carol's console sent %s on her own request", seed, c)
				}
			}
		}
		if votes == 0 {
			t.Error("the walks never sent a vote: they test nothing")
		}
	})
}
