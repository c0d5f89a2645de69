package main

import (
	"slices"
	"time"
)

// Dist summarises a set of durations; JSON figures are milliseconds.
type Dist struct {
	N      int     `json:"n"`
	Errors int     `json:"errors"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// distOf computes p50 and p99 by the nearest-rank method: every figure is
// one that was measured (with fewer than 100 samples p99 is the largest).
func distOf(ds []time.Duration, errors int) Dist {
	d := Dist{N: len(ds), Errors: errors}
	if len(ds) == 0 {
		return d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d.P50ms = ms(rank(s, 0.50))
	d.P99ms = ms(rank(s, 0.99))
	d.MaxMs = ms(s[len(s)-1])
	return d
}

func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
