package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/internal/tmpfs"
)

func fillFS(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for buf := make([]byte, 64<<10); len(buf) > 0; buf = buf[:len(buf)/2] {
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGateFullDisk is issue 16 item 4 at the gate: with the data dir's
// disk full, the gate stays up, refuses new sessions that need a record
// with a clear message, keeps serving reads, says so on /healthz and in
// its metrics, and takes work again once space returns, chain intact.
func TestGateFullDisk(t *testing.T) {
	data := tmpfs.Mount(t, 160<<20)
	log := testLogger(t)
	// The gate's client key, created where Open will find it, is the one
	// the demo target trusts.
	gateClient, err := bastion.LoadOrCreateKey(filepath.Join(data, bastion.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	targetAddr, targetHost, closeTarget := startDemoTarget(t, gateClient.PublicKey(), log)
	t.Cleanup(func() { closeTarget() })
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "policies.yaml"), []byte(advPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	alice := testSigner(t)
	cfgText := "data_dir: " + data + "\nmetrics:\n  listen: 127.0.0.1:0\nstore:\n  reserve: 48MiB\n" +
		oneTargetConfig(alice.PublicKey(), targetHost, targetAddr)
	cfg, err := config.Parse(filepath.Join(conf, "keyturn.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	// start runs a gate from cfg until the test ends or stop is called.
	var stop func()
	start := func() (*Server, net.Listener) {
		t.Helper()
		srv, err := Open(context.Background(), cfg, Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		l, stopRun := serve(t, srv)
		stop = func() {
			if err := stopRun(); err != nil {
				t.Errorf("gate run: %v", err)
			}
		}
		return srv, l
	}
	srv, l := start()
	t.Cleanup(func() { stop() })
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(data, bastion.HostKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGate{addr: l.Addr().String(), hostKey: hostKey.PublicKey(), alice: alice, mpa: srv.MPA}
	healthz := "http://" + srv.MetricsAddr().String() + "/healthz"
	metricsURL := "http://" + srv.MetricsAddr().String() + "/metrics"

	if out, _, st := tg.run(t, "alice+t1", alice, "echo before"); st != 0 || out != "before\n" {
		t.Fatalf("with space: %q, exit %d", out, st)
	}
	if code, _ := httpGet(t, healthz); code != http.StatusOK {
		t.Fatalf("healthz with space: %d", code)
	}

	filler := filepath.Join(data, "filler")
	fillFS(t, filler)
	for range 5 {
		out, errOut, st := tg.run(t, "alice+t1", alice, "echo during")
		if st != exitcode.Unavailable || strings.Contains(out, "during") || !strings.Contains(errOut, "disk is full") {
			t.Fatalf("on a full disk: exit %d, out %q, err %q; want %d and a clear refusal", st, out, errOut, exitcode.Unavailable)
		}
	}
	if out, _, st := tg.run(t, "alice", alice, "mpa audit list"); st != 0 || !strings.Contains(out, "echo before") {
		t.Fatalf("reads on a full disk: exit %d\n%s", st, out)
	}
	if code, body := httpGet(t, healthz); code != http.StatusServiceUnavailable || !strings.Contains(body, "store full") {
		t.Fatalf("healthz on a full disk: %d %q", code, body)
	}
	if _, body := httpGet(t, metricsURL); !strings.Contains(body, "keyturn_store_full 1") {
		t.Fatalf("metrics on a full disk lack keyturn_store_full 1")
	}

	// A restart short of the reserve: the gate starts, serves reads,
	// refuses records. (With less than Badger needs to open at all, 40
	// MiB, the store refuses to open: see badgerstore's TestFullDisk.)
	stop()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(data, &fs); err != nil {
		t.Fatal(err)
	}
	if give := 56<<20 - int64(fs.Bavail)*fs.Bsize; give > 0 {
		info, err := os.Stat(filler)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filler, info.Size()-give); err != nil {
			t.Fatal(err)
		}
	}
	srv, l = start()
	tg.addr, tg.mpa = l.Addr().String(), srv.MPA
	healthz = "http://" + srv.MetricsAddr().String() + "/healthz"
	metricsURL = "http://" + srv.MetricsAddr().String() + "/metrics"
	if _, errOut, st := tg.run(t, "alice+t1", alice, "echo restarted"); st != exitcode.Unavailable || !strings.Contains(errOut, "disk is full") {
		t.Fatalf("restarted short of the reserve: exit %d, %q", st, errOut)
	}
	if out, _, st := tg.run(t, "alice", alice, "mpa audit list"); st != 0 || !strings.Contains(out, "echo before") {
		t.Fatalf("reads after a restart short of the reserve: exit %d\n%s", st, out)
	}
	if code, _ := httpGet(t, healthz); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz after a restart short of the reserve: %d", code)
	}

	// Space returns: the running gate takes work again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if out, _, st := tg.run(t, "alice+t1", alice, "echo after"); st != 0 || out != "after\n" {
		t.Fatalf("once space returned: %q, exit %d", out, st)
	}
	if code, _ := httpGet(t, healthz); code != http.StatusOK {
		t.Fatalf("healthz once space returned: %d", code)
	}
	if _, body := httpGet(t, metricsURL); !strings.Contains(body, "keyturn_store_full 0") {
		t.Fatalf("metrics once space returned lack keyturn_store_full 0")
	}
	if err := srv.MPA.VerifyAudit(context.Background()); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}
