package bastion

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/policy"
)

// BenchmarkWarmParts breaks a warm session's cost into its parts, each
// timed on its own in the same loop (so the machine's load falls on all
// alike), on a gate whose store is on disk with synced writes:
//
//   - session-ms: a warm session through the gate, as BenchmarkWarmSession
//     (the client's channel open and exec, all the gate's work, the
//     target's);
//   - hop-ms: the gate's own hop alone: a channel on the pooled target
//     connection, exec of `true`, its exit status (what a client going
//     direct pays, from the gate's seat);
//   - decide-ms: the policy decision of the command line;
//   - record-ms: the decision's audit record, synced (through the
//     Sequencer, alone);
//   - open-ms: a channel open on the pooled connection, alone (what the
//     overlap in early.go hides under record-ms, and what a spare channel
//     saves when it does not);
//   - added-ms: session-ms minus hop-ms, the gate's price per session;
//   - chan-wait-ms, chan-late-%: how long, on average, a session through
//     the gate still waited for its early channel once its record had
//     committed, and in how many sessions it waited at all: all a spare
//     pre-opened channel per pooled connection could save.
//
// "lan" puts 0.5 ms each way between the gate and its target.
//
// Run it with
//
//	go test -run '^$' -bench WarmParts -benchtime 200x ./bastion/
func BenchmarkWarmParts(b *testing.B) {
	b.Run("loopback", func(b *testing.B) { benchWarmParts(b, 0) })
	b.Run("lan", func(b *testing.B) { benchWarmParts(b, 500*time.Microsecond) })
}

func benchWarmParts(b *testing.B, delay time.Duration) {
	tg := startGateOpts(b, mustPolicy(b, allowAllPolicy), gateTestOptions{quiet: true, storeDir: b.TempDir(), targetDelay: delay})
	g := tg.gate
	// The parts are timed without the pool's spare channel (the hop and
	// open parts would take it): chan-wait-ms is what a spare can save,
	// BenchmarkWarmSpare what it does.
	tg.pool.SetSpares(false)
	c := tg.dialAs(b, "alice+t1", tg.alice)
	ctx := context.Background()
	id := Identity{User: "alice", Target: "t1"}
	data, err := json.Marshal(audit.DecisionData{Command: "true", Verdict: "allow", Key: "SHA256:x"})
	if err != nil {
		b.Fatal(err)
	}
	session := func() { runTrue(b, c) }
	session() // the pooled connection is dialled here
	var waited atomic.Int64
	var late atomic.Int32
	note := func(d time.Duration) {
		waited.Add(int64(d))
		if d > 0 {
			late.Add(1)
		}
	}
	earlyWaited.Store(&note)
	defer earlyWaited.Store(nil)
	var sum [5]time.Duration
	timed := func(i int, f func()) {
		t0 := time.Now()
		f()
		sum[i] += time.Since(t0)
	}
	n := 0
	for b.Loop() {
		n++
		timed(0, session)
		timed(1, func() {
			ts, err := g.targets.NewSession(ctx, id.Target)
			if err != nil {
				b.Fatal(err)
			}
			if err := ts.Run(bashCommand(g.targetShell(id.Target), "true")); err != nil {
				b.Fatal(err)
			}
			ts.Close()
		})
		timed(2, func() {
			if d := g.policy.Decide(policy.Input{Command: "true", Target: id.Target}); d.Verdict != policy.Allow {
				b.Fatalf("decision %v", d.Verdict)
			}
		})
		timed(3, func() {
			if _, err := g.mpa.Record(ctx, audit.Event{Kind: audit.KindDecision, Actor: id.User, Target: id.Target, Data: data}); err != nil {
				b.Fatal(err)
			}
		})
		timed(4, func() {
			ts, err := g.targets.NewSession(ctx, id.Target)
			if err != nil {
				b.Fatal(err)
			}
			ts.Close()
		})
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	for i, name := range []string{"session-ms", "hop-ms", "decide-ms", "record-ms", "open-ms"} {
		b.ReportMetric(ms(sum[i]), name)
	}
	b.ReportMetric(ms(sum[0]-sum[1]), "added-ms")
	b.ReportMetric(ms(time.Duration(waited.Load())), "chan-wait-ms")
	b.ReportMetric(100*float64(late.Load())/float64(n), "chan-late-%")
}

// BenchmarkWarmSpare runs warm sessions on a gate with a synced on-disk
// store, alternating every session between a pool that holds a spare
// channel on its target connection (taken by the session, replaced in the
// background) and one that opens the session's channel while the record
// commits; spare-ms and open-ms are the mean session times of each.
//
// "lan" puts 0.5 ms each way between the gate and its target: there the
// channel open takes longer than the record, and the spare saves the
// difference; on loopback the open hides under the record.
//
//	go test -run '^$' -bench WarmSpare -benchtime 200x ./bastion/
func BenchmarkWarmSpare(b *testing.B) {
	b.Run("loopback", func(b *testing.B) { benchWarmSpare(b, 0) })
	b.Run("lan", func(b *testing.B) { benchWarmSpare(b, 500*time.Microsecond) })
}

func benchWarmSpare(b *testing.B, delay time.Duration) {
	tg := startGateOpts(b, mustPolicy(b, allowAllPolicy), gateTestOptions{quiet: true, storeDir: b.TempDir(), targetDelay: delay})
	c := tg.dialAs(b, "alice+t1", tg.alice)
	runTrue(b, c) // the pooled connection is dialled here
	pool := tg.pool
	benchAlternate(b, c, [2]string{"spare-ms", "open-ms"}, func(mode int) {
		spare := mode == 0
		pool.SetSpares(spare)
		if spare {
			if held, err := pool.WaitSpares(context.Background(), "t1"); err != nil || held != 1 {
				b.Fatalf("%d spares held (%v); want 1", held, err)
			}
		}
	})
}
