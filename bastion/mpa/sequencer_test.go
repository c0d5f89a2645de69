package mpa_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/mpa/storetest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

func decision(i int) audit.Event {
	return audit.Event{Kind: "session.decision", Actor: "alice", Target: "web-1",
		Data: audit.Data(map[string]any{"i": i, "verdict": "allow"})}
}

// Every record Record returned is in the chain on disk after a crash
// (the store closed and reopened), exactly as returned, and the chain
// verifies: group commit returns only what is durable.
func TestRecordDurableWhenReturned(t *testing.T) {
	dir := t.TempDir()
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, st, mpatest.NewClock(start), mpa.Options{RecordBatch: 16})
	const n = 300
	got := make([]audit.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := e.svc.Record(e.ctx, decision(i))
			if err != nil {
				t.Errorf("record %d: %v", i, err)
				return
			}
			// Committed when returned: a fresh read sees it.
			err = st.View(e.ctx, func(tx mpa.Tx) error {
				h, err := tx.AuditHead(tx.AuditChain())
				if err == nil && h.Seq < out.Seq {
					t.Errorf("record %d returned at seq %d but the head is %d", i, out.Seq, h.Seq)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
			got[i] = out
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = badgerstore.Open(badgerstore.Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := map[uint64]audit.Event{}
	err = st.View(e.ctx, func(tx mpa.Tx) error {
		if _, err := storetest.VerifyChain(tx); err != nil {
			return err
		}
		for ev, err := range tx.AuditEvents(tx.AuditChain(), 1) {
			if err != nil {
				return err
			}
			stored[ev.Seq] = ev
		}
		return nil
	})
	if err != nil {
		t.Fatalf("chain after reopen: %v", err)
	}
	if len(stored) != n {
		t.Fatalf("%d events after reopen; want %d", len(stored), n)
	}
	for i, ev := range got {
		if s, ok := stored[ev.Seq]; !ok || s.Hash != ev.Hash || string(s.Data) != string(ev.Data) {
			t.Fatalf("record %d returned %+v; stored %+v", i, ev, s)
		}
	}
}

// Records from one caller keep their order in the chain; a batch never
// holds more than RecordBatch records.
func TestRecordOrderAndBatchBound(t *testing.T) {
	e := newEnv(t, mpa.Options{RecordBatch: 4})
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	changes, err := e.store.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 20, 10
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if _, err := e.svc.Record(e.ctx, decision(c*1000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	perRev := map[uint64]int{}
	last := map[int]int{}
	for range callers * each {
		var c mpa.Change
		select {
		case c = <-changes:
		case <-time.After(20 * time.Second):
			t.Fatal("audit change not delivered within 20s")
		}
		if c.Kind != mpa.ChangeAudit {
			t.Fatalf("unexpected change %+v", c)
		}
		perRev[c.Rev]++
		var d struct{ I int }
		if err := json.Unmarshal(c.Audit.Data, &d); err != nil {
			t.Fatal(err)
		}
		caller, i := d.I/1000, d.I%1000
		if prev, ok := last[caller]; ok && i <= prev {
			t.Fatalf("caller %d's record %d in the chain after its record %d", caller, i, prev)
		}
		last[caller] = i
	}
	for rev, n := range perRev {
		if n > 4 {
			t.Fatalf("transaction %d held %d records; RecordBatch is 4", rev, n)
		}
	}
	e.verifyAudit()
}

// A record that cannot be sealed fails alone; a cancelled caller's record
// is not committed.
func TestRecordFailures(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	bad := decision(0)
	bad.Data = json.RawMessage(`{"unterminated"`)
	if _, err := e.svc.Record(e.ctx, bad); err == nil {
		t.Fatal("an unsealable event was recorded")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.svc.Record(ctx, decision(1)); err == nil {
		t.Fatal("a cancelled caller's record was reported recorded")
	}
	if _, err := e.svc.Record(e.ctx, decision(2)); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for ev, err := range e.svc.AuditEvents(e.ctx, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, string(ev.Data))
	}
	if len(kinds) != 1 || !slices.Contains(kinds, `{"i":2,"verdict":"allow"}`) {
		t.Fatalf("chain holds %v; want only record 2", kinds)
	}
}

// BenchmarkRecord measures recorded decisions per second on a synced
// on-disk Badger store with 1, 8, 64 and 500 concurrent sessions, each
// record in its own transaction ("lock", as before group commit) and
// group-committed ("group").
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []string{"lock", "group"} {
		for _, conc := range []int{1, 8, 64, 500} {
			b.Run(fmt.Sprintf("%s/conc-%d", mode, conc), func(b *testing.B) {
				e := benchEnv(b, true)
				if mode == "lock" {
					mpa.WithoutGroupCommit(e.svc)
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				t0 := time.Now()
				for range conc {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := e.svc.Record(e.ctx, decision(int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "records/s")
				if n := mpa.RecordCommits(e.svc); n > 0 {
					b.ReportMetric(float64(b.N)/float64(n), "records/commit")
				}
			})
		}
	}
}

// BenchmarkRecordLone is one session's decision record with nothing else
// queued, on two synced on-disk stores in the same loop, alternating:
// "inline-ms" when the caller commits its own batch (as a Sequencer does
// when idle), "handoff-ms" when a draining goroutine commits it and wakes
// the caller (as before). The difference is the handoff's price.
//
//	go test -run '^$' -bench RecordLone -benchtime 400x ./bastion/mpa/
func BenchmarkRecordLone(b *testing.B) {
	inline, handoff := benchEnv(b, true), benchEnv(b, true)
	mpa.WithHandoff(handoff.svc)
	var took [2]time.Duration
	n := 0
	for b.Loop() {
		for j := range 2 {
			k := (n + j) % 2
			e := []*env{inline, handoff}[k]
			t0 := time.Now()
			if _, err := e.svc.Record(e.ctx, decision(n)); err != nil {
				b.Fatal(err)
			}
			took[k] += time.Since(t0)
		}
		n++
	}
	b.ReportMetric(float64(took[0].Microseconds())/1000/float64(n), "inline-ms")
	b.ReportMetric(float64(took[1].Microseconds())/1000/float64(n), "handoff-ms")
}
