package shellfast

import (
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// BenchmarkShellHop times the target's part of a warm session on a real
// sshd whose login is a plain bash (HOME an empty directory), the two
// ways the gate sends a line, alternating every iteration on one
// connection so that load falls on both alike: wrapped-ms is
// `exec /bin/bash --norc --noprofile -c 'true'` (what every line cost
// before the shell probe), plain-ms is `true` as it is (the fast path);
// saved-ms is the difference.
//
//	go test -run '^$' -bench ShellHop -benchtime 300x ./cmd/internal/shellfast/
func BenchmarkShellHop(b *testing.B) {
	tg := startTarget(b, nil, "", "")
	c := tg.dialDirect(b)
	defer c.Close()
	lines := [2]string{"exec /bin/bash --norc --noprofile -c 'true'", "true"}
	ms := alternate(b, len(lines), func(k int) {
		if _, errOut, status := runOn(b, c, lines[k]); status != 0 {
			b.Fatalf("%s: status %d: %s", lines[k], status, errOut)
		}
	})
	b.ReportMetric(ms[0], "wrapped-ms")
	b.ReportMetric(ms[1], "plain-ms")
	b.ReportMetric(ms[0]-ms[1], "saved-ms")
}

// BenchmarkGateShellFast times warm sessions (`true`, each a new session
// on one client connection) through two gates in front of one real sshd
// whose login is a plain bash, alternating every iteration: one with
// shell_wrapper: auto, whose probe has said yes (the line goes as it is),
// one with shell_wrapper: always (the second bash). direct-ms is the same
// session straight to the sshd, in the same loop.
//
//	go test -run '^$' -bench GateShellFast -benchtime 300x ./cmd/internal/shellfast/
func BenchmarkGateShellFast(b *testing.B) {
	tg := startTarget(b, nil, "", "")
	auto, always := tg.gate(b, ""), tg.gate(b, "    shell_wrapper: always\n")
	ca, cw := auto.dial(b), always.dial(b)
	defer ca.Close()
	defer cw.Close()
	cd := tg.dialDirect(b)
	defer cd.Close()
	runOn(b, ca, "true")
	runOn(b, cw, "true")
	if !auto.waitProbe(b) {
		b.Fatalf("probe said no for a plain bash login\n%s", auto.logs)
	}
	clients := [3]*gossh.Client{ca, cw, cd}
	ms := alternate(b, len(clients), func(k int) {
		if _, errOut, status := runOn(b, clients[k], "true"); status != 0 {
			b.Fatalf("status %d: %s", status, errOut)
		}
	})
	b.ReportMetric(ms[0], "auto-ms")
	b.ReportMetric(ms[1], "always-ms")
	b.ReportMetric(ms[2], "direct-ms")
	b.ReportMetric(ms[1]-ms[0], "saved-ms")
	b.ReportMetric(ms[0]/ms[2], "auto/direct")
	b.ReportMetric(ms[1]/ms[2], "always/direct")
}

// alternate runs each of ways ways (run(0) to run(ways-1)) once per
// benchmark iteration, each iteration starting one way further on, so
// that load from elsewhere falls on every way alike, and returns each
// way's mean time in milliseconds.
func alternate(b *testing.B, ways int, run func(way int)) []float64 {
	took := make([]time.Duration, ways)
	n := 0
	for b.Loop() {
		for j := range ways {
			k := (n + j) % ways
			t0 := time.Now()
			run(k)
			took[k] += time.Since(t0)
		}
		n++
	}
	ms := make([]float64, ways)
	for k, d := range took {
		ms[k] = float64(d.Microseconds()) / 1000 / float64(n)
	}
	return ms
}
