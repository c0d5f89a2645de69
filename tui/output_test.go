package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// releasedKill has bob and carol approve alice's kill on web-1 and
// alice release it: the request is Executing, its output not yet kept.
func (f *fixture) releasedKill() mpa.Request {
	f.t.Helper()
	f.Register("bob", "carol")
	r := f.create("alice", "process", "kill_process", "web-1", "kill -9 4242", "stuck", "kill")
	f.vote(r.ID, "bob", "", true)
	f.vote(r.ID, "carol", "", true)
	if _, err := f.svc.BeginExecution(f.ctx, r.ID, "alice"); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// TestDetailShowsOutput: a finished request's detail view shows what its
// command wrote, escaped, once the kept copy matches the audit trail.
func TestDetailShowsOutput(t *testing.T) {
	f := newFixture(t)
	r := f.releasedKill()
	mpatest.FinishWithOutput(t, f.ctx, f.svc, r.ID, f.clock.Now, func(rec *mpa.OutputRecorder) {
		fmt.Fprint(rec.Stdout(), "killed 4242\n")
		fmt.Fprint(rec.Stderr(), "\x1b]0;owned\x07 title\n")
	})
	tm := f.console(t, Viewer{Name: "bob", Approver: true}, "0 pending")
	keys(tm, tea.KeyTab)
	waitFor(t, tm, "completed")
	keys(tm, tea.KeyEnter)
	// The output is shown escaped, with each piece's stream, once its
	// audit event is found.
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("matches audit event")) && bytes.Contains(b, []byte("out killed 4242")) &&
			bytes.Contains(b, []byte(`err \x1b]0;owned\x07 title`))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// TestDetailHidesForgedOutput: a kept copy changed in the store is not
// shown; the view says it does not match the audit trail.
func TestDetailHidesForgedOutput(t *testing.T) {
	f, st := newFixtureOn(t, nil)
	r := f.releasedKill()
	rec := mpa.NewOutputRecorder(r.ID, 0, f.clock.Now)
	fmt.Fprint(rec, "killed 4242\n")
	if err := f.svc.SaveOutput(f.ctx, r.ID, rec.Output()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.FinishExecution(f.ctx, r.ID, mpa.ExecResult{}); err != nil {
		t.Fatal(err)
	}
	err := st.Update(f.ctx, func(tx mpa.Tx) error {
		forged, _ := json.Marshal(mpa.Output{Request: r.ID, Head: []mpa.OutputChunk{{Stream: "o", Data: []byte("all fine\n")}}})
		return tx.(mpa.OutputTx).PutOutput(r.ID, forged, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := f.model(Viewer{Name: "bob", Approver: true}, 120, 40)
	req, err := f.svc.Get(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.s.reqs[r.ID] = &req
	m, cmd := m.open(r.ID)
	next, _ := m.Update(cmd())
	nm := next.(Model)
	got := nm.detail.content(&nm.s)
	if !strings.Contains(got, "does not match the audit trail") || strings.Contains(got, "all fine") {
		t.Errorf("detail view of a forged output:\n%s", got)
	}
}
