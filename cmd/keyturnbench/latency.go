package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// coldLatency runs `true` over a new ssh process per run, n times per path,
// the paths taking turns (and turns starting from a different path each
// round) so that drift in the machine's load falls on all of them alike.
func coldLatency(ctx context.Context, e *env, alg string, n int, extra ...string) map[string]Dist {
	samples := map[string][]time.Duration{}
	errs := map[string]int{}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for j := range paths {
			p := paths[(i+j)%len(paths)]
			args := append(append([]string{}, extra...), p, "true")
			took, _, err := e.ssh(ctx, 30*time.Second, alg, args...)
			if err != nil {
				errs[p]++
				logErr(errs[p], err)
				continue
			}
			samples[p] = append(samples[p], took)
		}
	}
	out := map[string]Dist{}
	for _, p := range paths {
		out[p] = distOf(samples[p], errs[p])
	}
	return out
}

// warmLatency is coldLatency over OpenSSH connection sharing: one master
// connection per path (ControlMaster), each run a new ssh process that
// opens a session on it.
func warmLatency(ctx context.Context, e *env, alg string, n int) (map[string]Dist, error) {
	var masters []*exec.Cmd
	defer func() {
		for _, m := range masters {
			m.Process.Kill()
			m.Wait()
		}
	}()
	ctlDir := filepath.Join(e.dir, "ctl")
	if err := os.MkdirAll(ctlDir, 0o700); err != nil {
		return nil, err
	}
	ctlPath := filepath.Join(ctlDir, "%n")
	for _, p := range paths {
		m := exec.Command("ssh", e.sshArgs(alg, "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o", "ControlPath="+ctlPath, p)...)
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("start ControlMaster for %s: %w", p, err)
		}
		masters = append(masters, m)
		if err := waitMaster(ctx, e, alg, ctlPath, p); err != nil {
			return nil, err
		}
	}
	return coldLatency(ctx, e, alg, n, "-o", "ControlMaster=no", "-o", "ControlPath="+ctlPath), nil
}

func waitMaster(ctx context.Context, e *env, alg, ctlPath, host string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, err := e.ssh(ctx, 5*time.Second, alg, "-o", "ControlPath="+ctlPath, "-O", "check", host)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ControlMaster for %s not ready: %w", host, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we do not control
	}
}

// logErr prints the first few errors of a kind in full; the count goes in
// the results.
func logErr(nth int, err error) {
	if nth <= 3 {
		fmt.Fprintf(os.Stderr, "keyturnbench: %v\n", err)
	}
}
