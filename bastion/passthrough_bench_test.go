package bastion

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/demotarget"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/targets"
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

func benchSigner(b *testing.B) gossh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// startBenchGate is a gate with an allow-all policy in front of a demo
// target, both on loopback, with an in-memory store.
func startBenchGate(b *testing.B) (addr string, hostKey gossh.PublicKey, alice gossh.Signer) {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	policyPath := filepath.Join(dir, "policies.yaml")
	if err := os.WriteFile(policyPath, []byte(allowAllPolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	gateClient, targetHost := benchSigner(b), benchSigner(b)
	target := demotarget.New(targetHost, gateClient.PublicKey(), log)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go target.Serve(tl)
	b.Cleanup(func() { target.Close() })

	alice = benchSigner(b)
	cfgText := "users:\n  - name: alice\n    roles: [admin]\n    keys: [\"" + AuthorizedKey(alice.PublicKey(), "") + "\"]\n    targets: [\"*\"]\n" +
		"targets:\n  - name: t1\n    address: " + tl.Addr().String() + "\n    user: demo\n    host_keys: [\"" + AuthorizedKey(targetHost.PublicKey(), "") + "\"]\n"
	cfg, err := config.Parse(filepath.Join(dir, "keyturn.yaml"), []byte(cfgText))
	if err != nil {
		b.Fatal(err)
	}
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	pol, err := LoadPolicy(policyPath, log)
	if err != nil {
		b.Fatal(err)
	}
	pool, err := targets.NewPool(gateClient, cfg.Targets, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Close() })
	hk := benchSigner(b)
	g, err := New(Options{Config: cfg, HostKey: hk, Targets: pool, Policy: pol, MPA: NewService(cfg, st, log), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return l.Addr().String(), hk.PublicKey(), alice
}
