package main

import (
	"context"
	"fmt"
	"time"
)

// Throughput is one path's stream rate for one alg set.
type Throughput struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBps   float64 `json:"mib_per_s"`
	Error   string  `json:"error,omitempty"`
}

// throughput streams size bytes from the target's stdout (head -c from
// /dev/zero: the target's cost of producing them is the same on every
// path) to the client's, once per path, the paths taking turns.
func throughput(ctx context.Context, e *env, alg string, size int64, rounds int) map[string]Throughput {
	total := map[string]Throughput{}
	for i := 0; i < rounds; i++ {
		for j := range paths {
			p := paths[(i+j)%len(paths)]
			took, n, err := e.sshCount(ctx, 10*time.Minute, alg, p, fmt.Sprintf("head -c %d /dev/zero", size))
			t := total[p]
			if err == nil && n != size {
				err = fmt.Errorf("%s: got %d bytes; want %d", p, n, size)
			}
			if err != nil {
				logErr(1, err)
				t.Error = err.Error()
			}
			t.Bytes += n
			t.Seconds += took.Seconds()
			total[p] = t
		}
	}
	for p, t := range total {
		if t.Seconds > 0 {
			t.MiBps = float64(t.Bytes) / (1 << 20) / t.Seconds
		}
		total[p] = t
	}
	return total
}
