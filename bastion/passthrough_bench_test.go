package bastion

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// BenchmarkPassthrough streams a command's stdout from a demo target
// through a gate on loopback to an x/crypto client: the MB/s is that of
// the whole path (target, gate's two SSH connections, client), and the
// gate's share shows in -cpuprofile. Logs go nowhere, so that they are not
// what is measured.
func BenchmarkPassthrough(b *testing.B) {
	for _, mib := range []int{1, 64} {
		for _, cipher := range []string{"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"} {
			b.Run(fmt.Sprintf("%dMiB/%s", mib, cipher), func(b *testing.B) {
				benchPassthrough(b, int64(mib)<<20, cipher)
			})
		}
	}
}

func benchPassthrough(b *testing.B, size int64, cipher string) {
	addr, hostKey, alice := startBenchGate(b)
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User: "alice+t1", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice)},
		HostKeyCallback: gossh.FixedHostKey(hostKey),
		Config:          gossh.Config{Ciphers: []string{cipher}},
	})
	if err != nil {
		b.Fatalf("dial gate: %v", err)
	}
	defer c.Close()
	cmd := fmt.Sprintf("head -c %d /dev/zero", size)
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		s, err := c.NewSession()
		if err != nil {
			b.Fatalf("new session: %v", err)
		}
		out, err := s.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Start(cmd); err != nil {
			b.Fatalf("start %q: %v", cmd, err)
		}
		n, err := io.CopyBuffer(io.Discard, out, buf)
		if err != nil || n != size {
			b.Fatalf("read %d bytes (%v); want %d", n, err, size)
		}
		if err := s.Wait(); err != nil {
			b.Fatalf("wait: %v", err)
		}
		s.Close()
	}
}

// startBenchGate is the test gate (allow-all policy, demo target, both on
// loopback, in-memory store).
func startBenchGate(b *testing.B) (addr string, hostKey gossh.PublicKey, alice gossh.Signer) {
	b.Helper()
	tg := startTestGate(b, allowAllPolicy)
	return tg.addr, tg.hostKey, tg.alice
}

// BenchmarkWarmSession is one session on an open client connection, as
// with ControlMaster: decision, audit record, a channel on the pooled
// target connection, and `true` run by the demo target's /bin/sh.
//
// "disk" keeps the store on disk with synced writes, as a real gate does:
// then each decision waits for an fsync, which the target channel's open
// overlaps (early.go). "mem" is the in-memory store.
func BenchmarkWarmSession(b *testing.B) {
	b.Run("mem", func(b *testing.B) { benchWarmSession(b, gateTestOptions{quiet: true}) })
	b.Run("disk", func(b *testing.B) { benchWarmSession(b, gateTestOptions{quiet: true, storeDir: b.TempDir()}) })
}

func benchWarmSession(b *testing.B, o gateTestOptions) {
	pol := mustPolicy(b, allowAllPolicy)
	tg := startGateOpts(b, pol, o)
	c := tg.dialAs(b, "alice+t1", tg.alice)
	for b.Loop() {
		runTrue(b, c)
	}
}

// runTrue runs `true` in a new session on c: one warm session.
func runTrue(b *testing.B, c *gossh.Client) {
	s, err := c.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Run("true"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWarmOverlap runs warm sessions on a gate with a synced on-disk
// store, alternating every session between opening the target channel
// while the decision record commits (early.go) and opening it after, as
// before; overlap-ms and serial-ms are the mean session times of each, so
// the machine's load drifting falls on both alike.
//
// "lan" puts 0.5 ms each way between the gate and its target.
func BenchmarkWarmOverlap(b *testing.B) {
	b.Run("loopback", func(b *testing.B) { benchWarmOverlap(b, 0) })
	b.Run("lan", func(b *testing.B) { benchWarmOverlap(b, 500*time.Microsecond) })
}

func benchWarmOverlap(b *testing.B, delay time.Duration) {
	pol := mustPolicy(b, allowAllPolicy)
	tg := startGateOpts(b, pol, gateTestOptions{quiet: true, storeDir: b.TempDir(), targetDelay: delay})
	c := tg.dialAs(b, "alice+t1", tg.alice)
	benchAlternate(b, c, [2]string{"overlap-ms", "serial-ms"}, func(mode int) {
		tg.gate.serialOpen.Store(mode == 1)
	})
}

// benchAlternate runs two warm sessions on c each iteration, one in each
// of two modes of the gate, the first mode first in every other iteration;
// set puts the gate in mode 0 or 1 before its session, untimed. Each
// mode's mean session time is reported under its name, so the machine's
// load drifting falls on both alike.
func benchAlternate(b *testing.B, c *gossh.Client, names [2]string, set func(mode int)) {
	var took [2]time.Duration
	n := 0
	for b.Loop() {
		for j := range 2 {
			mode := (n + j) % 2
			set(mode)
			start := time.Now()
			runTrue(b, c)
			took[mode] += time.Since(start)
		}
		n++
	}
	for mode, name := range names {
		b.ReportMetric(float64(took[mode].Microseconds())/1000/float64(n), name)
	}
}

// startDelayProxy forwards TCP to addr, each chunk read in either
// direction passed on d later (in order), like a link with d one-way
// latency. For benchmarks only: no bound on what it queues.
func startDelayProxy(t testing.TB, addr string, d time.Duration) string {
	t.Helper()
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			b  []byte
			at time.Time
		}
		q := make(chan chunk, 1024)
		go func() {
			defer dst.Close()
			for c := range q {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.b); err != nil {
					return
				}
			}
		}()
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(d)}
			}
			if err != nil {
				return
			}
		}
	}
	return startProxy(t, addr, func(c, u net.Conn) {
		go pipe(u, c)
		go pipe(c, u)
	})
}
