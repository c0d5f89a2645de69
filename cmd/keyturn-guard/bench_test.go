//go:build linux

package main

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/guard"
)

// benchRun runs line under the guard (guarded) or under the same bash
// without it, with stdout drained, and fails on a non-zero exit. The CPU
// time of the run (the process and every descendant it waited for: the
// guard, its child, the shell and its programs) is added to cpu: under load
// from other processes it moves far less than the wall time.
func benchRun(b *testing.B, home, line string, guarded bool, cpu *time.Duration) int64 {
	if guarded {
		// The handshake (challenge, a grant signed for it, the grant
		// line) is part of every guarded start, as with the gate.
		s := startSession(b, guardCmd(context.Background(), home, "-c", guard.Command), false, grantSpec{line: line})
		s.in.Close()
		n, _ := io.Copy(io.Discard, s.out)
		if err := s.cmd.Wait(); err != nil {
			b.Fatalf("%q: %v", line, err)
		}
		*cpu += s.cmd.ProcessState.UserTime() + s.cmd.ProcessState.SystemTime()
		return n
	}
	c := exec.Command("/bin/bash", "--norc", "--noprofile", "-c", line)
	out, err := c.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, out)
	if err := c.Wait(); err != nil {
		b.Fatalf("%q: %v", line, err)
	}
	*cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	return n
}

// reportCPU reports the CPU time per run that benchRun summed.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func benchBoth(b *testing.B, line string, f func(b *testing.B, guarded bool)) {
	for _, mode := range []struct {
		name    string
		guarded bool
	}{{"unguarded", false}, {"guarded", true}} {
		b.Run(mode.name, func(b *testing.B) { f(b, mode.guarded) })
	}
}

// BenchmarkStartup: one `true`, end to end (grant check, tracer setup,
// re-exec, seccomp, bash).
func BenchmarkStartup(b *testing.B) {
	benchBoth(b, "true", func(b *testing.B, guarded bool) {
		home := b.TempDir()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			benchRun(b, home, "true", guarded, &cpu)
		}
		reportCPU(b, cpu)
	})
}

// BenchmarkExec500: 500 fork+exec of /bin/true; ms/exec is the cost of one.
func BenchmarkExec500(b *testing.B) {
	const line = "for i in $(seq 500); do /bin/true; done"
	benchBoth(b, line, func(b *testing.B, guarded bool) {
		home := b.TempDir()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			benchRun(b, home, line, guarded, &cpu)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*500), "ms/exec")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*500), "cpu-ms/exec")
	})
}

// BenchmarkStream: 256 MiB from the tree to the guard's stdout.
func BenchmarkStream(b *testing.B) {
	const line = "head -c 268435456 /dev/zero"
	benchBoth(b, line, func(b *testing.B, guarded bool) {
		home := b.TempDir()
		b.SetBytes(256 << 20)
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			if n := benchRun(b, home, line, guarded, &cpu); n != 256<<20 {
				b.Fatalf("%d bytes", n)
			}
		}
		reportCPU(b, cpu)
	})
}

// BenchmarkLoadConfig: reading and parsing the files beside the guard,
// which every start does before its challenge.
func BenchmarkLoadConfig(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if c, err := loadConfig(installDir); err != nil {
			b.Fatal(err)
		} else if _, err := c.parsePolicy(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbe: the guard's process start alone (exec, Go runtime
// init, the probe's answer), the floor under every start.
func BenchmarkProbe(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if out, err := guardCmd(context.Background(), b.TempDir(), "-c", guard.ProbeCommand).Output(); err != nil || len(out) == 0 {
			b.Fatalf("%v: %q", err, out)
		}
	}
}
