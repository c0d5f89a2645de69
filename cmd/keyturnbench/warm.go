package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// WarmPair is warm exec over OpenSSH connection sharing (ControlMaster),
// direct against through the gate, measured in one run with the two
// paths alternating every iteration (and which goes first alternating
// too), so that the machine's load drifting falls on both alike. Besides
// p50 and p99 of each path it gives the median of the per-iteration ratios
// (gate over the direct run next to it): the figure least moved by load
// on a shared machine.
type WarmPair struct {
	Alg           string  `json:"alg"`
	Direct        Dist    `json:"direct"`
	Keyturn       Dist    `json:"keyturn"`
	RatioP50      float64 `json:"ratio_p50"`
	RatioP99      float64 `json:"ratio_p99"`
	PairedRatio   float64 `json:"paired_ratio_p50"`
	PairedRatioLo float64 `json:"paired_ratio_p25"`
	PairedRatioHi float64 `json:"paired_ratio_p75"`
}

// warmPair runs `true` n times on each of the direct and gate paths, each
// run a new ssh process on its path's master connection.
func warmPair(ctx context.Context, e *env, alg string, n int) (*WarmPair, error) {
	pair := []string{pathDirect, pathKeyturn}
	ctlPath := filepath.Join(e.dir, "ctl-pair", "%n")
	if err := os.MkdirAll(filepath.Dir(ctlPath), 0o700); err != nil {
		return nil, err
	}
	for _, p := range pair {
		m := exec.Command("ssh", e.sshArgs(alg, "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o", "ControlPath="+ctlPath, p)...)
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("start ControlMaster for %s: %w", p, err)
		}
		defer func() { m.Process.Kill(); m.Wait() }()
		if err := waitMaster(ctx, e, alg, ctlPath, p); err != nil {
			return nil, err
		}
	}
	run := func(p string) (time.Duration, error) {
		took, _, err := e.ssh(ctx, 30*time.Second, alg, "-o", "ControlMaster=no", "-o", "ControlPath="+ctlPath, p, "true")
		return took, err
	}
	// One unmeasured run each: the gate's pooled connection and the
	// first channel on each master are set up here, not in the figures.
	for _, p := range pair {
		if _, err := run(p); err != nil {
			return nil, fmt.Errorf("warm-up on %s: %w", p, err)
		}
	}
	samples := map[string][]time.Duration{}
	errs := map[string]int{}
	var ratios []float64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		var took [2]time.Duration
		ok := true
		for j := range pair {
			k := (i + j) % 2
			d, err := run(pair[k])
			if err != nil {
				errs[pair[k]]++
				logErr(errs[pair[k]], err)
				ok = false
				continue
			}
			took[k] = d
			samples[pair[k]] = append(samples[pair[k]], d)
		}
		if ok {
			ratios = append(ratios, float64(took[1])/float64(took[0]))
		}
	}
	w := &WarmPair{Alg: alg, Direct: distOf(samples[pathDirect], errs[pathDirect]), Keyturn: distOf(samples[pathKeyturn], errs[pathKeyturn])}
	if w.Direct.P50ms > 0 {
		w.RatioP50 = w.Keyturn.P50ms / w.Direct.P50ms
	}
	if w.Direct.P99ms > 0 {
		w.RatioP99 = w.Keyturn.P99ms / w.Direct.P99ms
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		q := func(p float64) float64 {
			return ratios[max(0, min(int(p*float64(len(ratios))+0.999999)-1, len(ratios)-1))]
		}
		w.PairedRatioLo, w.PairedRatio, w.PairedRatioHi = q(0.25), q(0.50), q(0.75)
	}
	return w, nil
}

// printWarmPair writes the pair's rows after the main table.
func printWarmPair(w io.Writer, p *WarmPair) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nwarm exec, ControlMaster, direct and keyturn alternating per iteration [%s, n=%d]:\n", p.Alg, p.Direct.N)
	fmt.Fprintf(w, "  p50 %.1f ms direct, %.1f ms keyturn: %.2fx\n", p.Direct.P50ms, p.Keyturn.P50ms, p.RatioP50)
	fmt.Fprintf(w, "  p99 %.1f ms direct, %.1f ms keyturn: %.2fx\n", p.Direct.P99ms, p.Keyturn.P99ms, p.RatioP99)
	fmt.Fprintf(w, "  per-iteration ratio keyturn/direct: median %.2fx (quartiles %.2fx-%.2fx); errors %d direct, %d keyturn\n",
		p.PairedRatio, p.PairedRatioLo, p.PairedRatioHi, p.Direct.Errors, p.Keyturn.Errors)
}

// warmPairGoal is issue 13's warm goal, judged on the paired ratio.
func warmPairGoal(p *WarmPair) Goal {
	return Goal{"warm exec (ControlMaster) at most 1.05x direct, interleaved (issue 13)",
		fmt.Sprintf("median per-iteration ratio %.2fx; p50 %.2fx (%.1f vs %.1f ms), p99 %.2fx", p.PairedRatio, p.RatioP50, p.Keyturn.P50ms, p.Direct.P50ms, p.RatioP99),
		p.PairedRatio <= 1.05 && p.Keyturn.Errors == 0 && p.Direct.Errors == 0}
}
