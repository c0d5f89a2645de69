//go:build linux

package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/guard"
)

// benchRun runs line under the guard (guarded) or under the same bash
// without it, with stdout drained, and fails on a non-zero exit. The CPU
// time of the run (the process and every descendant it waited for: the
// guard, its child, the shell and its programs) is added to cpu: under load
// from other processes it moves far less than the wall time.
//
// Both run in a session of their own, as sshd starts every session's
// shell: with the scheduler's autogroups (sched_autogroup_enabled), a
// producer in the reader's own session shares its CPU with it differently,
// which moved the stream's CPU by 30% whatever the guard did. The guard
// puts its tree in a session of its own again; sshd's relay, like this
// benchmark's reader, is outside both.
func benchRun(b *testing.B, home, line string, guarded bool, cpu *time.Duration) int64 {
	if guarded {
		// The handshake (challenge, a grant signed for it, the grant
		// line) is part of every guarded start, as with the gate.
		c := guardCmd(context.Background(), home, "-c", guard.Command)
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		s := startSession(b, c, false, grantSpec{line: line})
		s.in.Close()
		n, _ := io.Copy(io.Discard, s.out)
		if err := s.cmd.Wait(); err != nil {
			b.Fatalf("%q: %v", line, err)
		}
		*cpu += s.cmd.ProcessState.UserTime() + s.cmd.ProcessState.SystemTime()
		return n
	}
	c := exec.Command("/bin/bash", "--norc", "--noprofile", "-c", line)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
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

// BenchmarkStreamProducer: the same stream, with the CPU time of the
// program producing it (head) alone, as bash's time keyword reports it: the
// guard's fixed start is left out, so this shows what the guard costs per
// byte (the bytes do not pass through it; the filter's verdict for read and
// write is cached by the kernel).
func BenchmarkStreamProducer(b *testing.B) {
	benchBoth(b, "", func(b *testing.B, guarded bool) {
		home := b.TempDir()
		times := filepath.Join(b.TempDir(), "times")
		line := "TIMEFORMAT='%3U %3S'; { time head -c 268435456 /dev/zero; } 2>>" + times
		b.SetBytes(256 << 20)
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			if n := benchRun(b, home, line, guarded, &cpu); n != 256<<20 {
				b.Fatalf("%d bytes", n)
			}
		}
		data, err := os.ReadFile(times)
		if err != nil {
			b.Fatal(err)
		}
		var head float64
		lines := strings.Fields(string(data))
		if len(lines) != 2*b.N {
			b.Fatalf("times: %q", data)
		}
		for _, f := range lines {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				b.Fatalf("times: %q", data)
			}
			head += v
		}
		b.ReportMetric(head*1000/float64(b.N), "producer-cpu-ms/op")
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
