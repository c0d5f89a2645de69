package main

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Concurrency is one run of many sessions at once through the gate.
type Concurrency struct {
	Sessions     int     `json:"sessions"`
	Latency      Dist    `json:"latency"`
	GateRSSMiB   float64 `json:"gate_rss_before_mib"`
	GatePeakMiB  float64 `json:"gate_peak_rss_mib"`
	PerSessionKB float64 `json:"gate_kib_per_session"`
	HoldSeconds  float64 `json:"hold_s"`
}

// concurrency starts n ssh clients through the gate together, each running
// `sleep hold` so that all n sessions are open at the same time; the
// latencies include the sleep. The gate's peak RSS is reset before and
// read after.
func concurrency(ctx context.Context, e *env, n int, hold time.Duration) Concurrency {
	c := Concurrency{Sessions: n, HoldSeconds: hold.Seconds()}
	before, _ := procMemKiB(e.gate.pid, "VmRSS")
	c.GateRSSMiB = mib(before)
	resetPeakRSS(e.gate.pid)

	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			took, _, err := e.ssh(ctx, 2*time.Minute, "aes", pathKeyturn, "sleep "+formatSeconds(hold))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				logErr(errs, err)
				return
			}
			lat = append(lat, took)
		}()
	}
	close(start)
	wg.Wait()
	peak, _ := procMemKiB(e.gate.pid, "VmHWM")
	c.GatePeakMiB = mib(peak)
	c.PerSessionKB = float64(peak-before) / float64(n)
	c.Latency = distOf(lat, errs)
	return c
}

// formatSeconds writes d as sleep(1) takes it.
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
