package tui

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// benchModel is a console holding n pending requests, built by feeding
// the model the messages the subscription would deliver.
func benchModel(b *testing.B, n int) (Model, []mpa.Request) {
	now := start
	m := New(b.Context(), nil, bob, Options{Renderer: testRenderer(), Now: func() time.Time { return now }, Width: 120, Height: 40})
	reqs := make([]mpa.Request, n)
	for i := range reqs {
		created := now.Add(-time.Duration(i) * time.Second)
		reqs[i] = mpa.Request{
			ID: fmt.Sprintf("req-%010x", i), Kind: mpa.KindCommand,
			Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
			Target:  fmt.Sprintf("web-%d", i%50), Command: fmt.Sprintf("kill -9 %d", i),
			Requester: "dave", Created: created, Updated: created, Status: mpa.StatusPending,
			RequiredApprovals: 2, ExpiresAt: created.Add(7 * 24 * time.Hour),
		}
		m.upsert(reqs[i])
	}
	if len(m.s.queue) != n {
		b.Fatalf("queue holds %d; want %d", len(m.s.queue), n)
	}
	return m, reqs
}

// BenchmarkQueueUpdate is one change pushed by the store (an approval on
// one of 10,000 pending requests) and the frame drawn after it.
func BenchmarkQueueUpdate(b *testing.B) {
	m, reqs := benchModel(b, 10_000)
	var tm any = m
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		r.Approvals = []mpa.Vote{{Approver: "alice", At: r.Updated.Add(time.Second)}}
		r.Updated = r.Updated.Add(time.Duration(i+1) * time.Millisecond)
		reqs[i%len(reqs)] = r
		next, _ := tm.(Model).Update(requestMsg{r: r})
		_ = next.View()
		tm = next
		i++
	}
}

// BenchmarkQueueView is drawing the queue of 10,000 pending requests.
func BenchmarkQueueView(b *testing.B) {
	m, _ := benchModel(b, 10_000)
	for b.Loop() {
		_ = m.View()
	}
}
