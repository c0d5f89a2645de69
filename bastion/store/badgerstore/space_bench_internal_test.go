package badgerstore

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// BenchmarkAllocateShortcut is one synced audit record on each of two
// stores in the same loop, alternating: "shortcut-us" skips the data
// dir's scan while the dir is unchanged (what a store does), "scan-us"
// reads the dir and stats its logs before every write (as before).
//
//	go test -run '^$' -bench AllocateShortcut -benchtime 1000x ./bastion/store/badgerstore/
func BenchmarkAllocateShortcut(b *testing.B) {
	var sts []*Store
	old := time.Now().Add(-time.Minute)
	for range 2 {
		dir := b.TempDir()
		st, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		if err := st.space.check(true); err != nil {
			b.Fatal(err)
		}
		// As a dir that has not changed for a while: the shortcut's
		// condition, without waiting for racyMtime to pass.
		if err := os.Chtimes(dir, old, old); err != nil {
			b.Fatal(err)
		}
		sts = append(sts, st)
	}
	ctx := context.Background()
	data := []byte(`{"command":"true","verdict":"allow","key":"SHA256:0123456789abcdef0123456789abcdef0123456789a"}`)
	var sum [2]time.Duration
	n := 0
	for b.Loop() {
		n++
		for j := range 2 {
			k := (n + j) % 2
			if k == 1 {
				sts[1].space.mu.Lock()
				sts[1].space.scannedAt = time.Time{} // forces the scan
				sts[1].space.mu.Unlock()
			}
			t0 := time.Now()
			err := sts[k].Update(ctx, func(tx mpa.Tx) error {
				_, err := tx.AppendAudit(audit.Event{Kind: audit.KindDecision, Actor: "alice", Target: "t1", Data: data})
				return err
			})
			sum[k] += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(sum[0].Microseconds())/float64(n), "shortcut-us")
	b.ReportMetric(float64(sum[1].Microseconds())/float64(n), "scan-us")
}
