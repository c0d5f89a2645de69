package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
)

// TestServerLifecycleLeaksNothing starts and stops a whole server as
// Open assembles it (store, policy watch, approved-policy applier, expiry
// loop, metrics listener, webhook notifier, audit file mirror, the
// approval-off warner, target pool) 50 times on the same data dir, with a session through it each time, and finds no goroutine
// left afterwards: every long-lived goroutine has an owner that waits for
// it, and the store closes last.
func TestServerLifecycleLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("50 server starts")
	}
	baseline := goleak.IgnoreCurrent()
	log := testLogger(t)
	data := t.TempDir()
	gateClient, err := bastion.LoadOrCreateKey(filepath.Join(data, bastion.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	targetAddr, targetHost, closeTarget := startDemoTarget(t, gateClient.PublicKey(), log)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "policies.yaml"), []byte(advPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "hook.secret"), []byte("a webhook secret of some length"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice := testSigner(t)
	cfgText := "data_dir: " + data + "\nmetrics:\n  listen: 127.0.0.1:0\n" +
		"audit:\n  file: " + filepath.Join(data, "audit.jsonl") + "\n" +
		"webhooks:\n  - url: " + hook.URL + "\n    secret_file: " + filepath.Join(conf, "hook.secret") + "\n" +
		oneTargetConfig(alice.PublicKey(), targetHost, targetAddr)
	cfg, err := config.Parse(filepath.Join(conf, "keyturn.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(data, bastion.HostKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	for i := range 50 {
		srv, err := Open(context.Background(), cfg, Options{Logger: log, ApprovalOffEvery: time.Hour})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		l, stop := serve(t, srv)
		tg := &testGate{addr: l.Addr().String(), hostKey: hostKey.PublicKey(), alice: alice, mpa: srv.MPA}
		if out, errOut, code := tg.run(t, "alice+t1", alice, "echo hello"); code != 0 || out != "hello\n" {
			t.Fatalf("start %d: session: exit %d, %q, %q", i, code, out, errOut)
		}
		// The session's end starts the connection's shell probe. The demo
		// target runs it in this process, so its fork holds a copy of
		// every descriptor, the store's locked directory included, until
		// the child execs: stopping meanwhile, the next start could find
		// the directory still locked. A real target is another machine.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := srv.pool.WaitShellProbe(ctx, "t1"); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		cancel()
		if err := stop(); err != nil {
			t.Fatalf("start %d: run: %v", i, err)
		}
	}
	closeTarget()
	hook.Close()
	// Connections and timers wind down on their own goroutines for a
	// moment after Close; goleak retries until its own bound.
	goleak.VerifyNone(t, baseline)
}
