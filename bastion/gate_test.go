package bastion

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/demotarget"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/sshtest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/targets"
	"github.com/keyturn/keyturn/tui"
)

// testSigner makes a fresh key, as every test of the gate needs several.
var testSigner = sshtest.Signer

// testGate is a gate on loopback in front of a demo target, with a real
// in-memory store.
type testGate struct {
	addr    string
	hostKey gossh.PublicKey
	alice   gossh.Signer // admin on every target
	carol   gossh.Signer // approver only
	store   *badgerstore.Store
	mpa     *mpa.Service
	gate    *Gate
	pool    *targets.Pool // the gate's target pool, for tests that set its spares
	proxy   *cutProxy     // nil unless asked for
}

// startTestGate starts a test gate enforcing policyYAML.
func startTestGate(t testing.TB, policyYAML string) *testGate {
	t.Helper()
	return startGateWith(t, mustPolicy(t, policyYAML))
}

// mustPolicy writes text to a policies.yaml of the test's own and loads
// it, or fails the test.
func mustPolicy(t testing.TB, text string) *PolicyHolder {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := LoadPolicy(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// startGateWith starts a test gate deciding with dec: users alice (admin)
// and carol (approver only), target t1 (a demo target running /bin/sh).
func startGateWith(t testing.TB, dec Decider) *testGate {
	t.Helper()
	return startGateOpts(t, dec, gateTestOptions{})
}

// gateTestOptions vary the test gate.
type gateTestOptions struct {
	// extraConfig is appended to the gate's config (a limits block, say).
	extraConfig string
	// proxy puts a cuttable TCP proxy between the gate and its target.
	proxy bool
	// quiet logs nothing (a fuzz target may not log through f).
	quiet bool
	// storeDir, if set, keeps the store on disk there (synced writes, as
	// a real gate) instead of in memory.
	storeDir string
	// targetDelay, if set, delays every read from the gate's target
	// connection by that much each way (a target across a network).
	targetDelay time.Duration
	// target, if set, serves the target instead of the demo target.
	target func(l net.Listener, hostKey gossh.Signer, gateKey gossh.PublicKey) (stop func())
	// countSession, if set, is the gate's session counter.
	countSession func(SessionKind)
	// logs, if set, gets the gate's log lines too.
	logs io.Writer
}

func startGateOpts(t testing.TB, dec Decider, o gateTestOptions) *testGate {
	t.Helper()
	log := testLogger(t)
	if o.quiet {
		log = slog.New(slog.DiscardHandler)
	}
	if o.logs != nil {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, o.logs), nil))
	}
	gateClient, targetHost := testSigner(t), testSigner(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.target != nil {
		t.Cleanup(o.target(tl, targetHost, gateClient.PublicKey()))
	} else {
		target := demotarget.New(targetHost, gateClient.PublicKey(), log)
		go target.Serve(tl)
		t.Cleanup(func() { target.Close() })
	}
	targetAddr := tl.Addr().String()
	if o.targetDelay > 0 {
		targetAddr = startDelayProxy(t, targetAddr, o.targetDelay)
	}
	var proxy *cutProxy
	if o.proxy {
		proxy = startCutProxy(t, targetAddr)
		targetAddr = proxy.addr
	}

	alice, carol := testSigner(t), testSigner(t)
	cfgText := "users:\n  - name: alice\n    roles: [admin]\n    keys: [\"" + AuthorizedKey(alice.PublicKey(), "") + "\"]\n    targets: [\"*\"]\n" +
		"  - name: carol\n    roles: [approver]\n    keys: [\"" + AuthorizedKey(carol.PublicKey(), "") + "\"]\n    targets: [\"*\"]\n" +
		"targets:\n  - name: t1\n    address: " + targetAddr + "\n    user: demo\n    host_keys: [\"" + AuthorizedKey(targetHost.PublicKey(), "") + "\"]\n" + o.extraConfig
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "keyturn.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	tg := serveGate(t, cfg, gateClient, dec, log, o.storeDir, func(opts *Options) {
		opts.Console, opts.CountSession = tuiConsole, o.countSession
	})
	tg.alice, tg.carol, tg.proxy = alice, carol, proxy
	return tg
}

// serveGate serves a gate with cfg, deciding with dec, on a loopback port
// until the test ends, with its own store (in memory, or synced on disk
// in storeDir if set) and a target pool that logs in as gateClient. more,
// if set, adds to the gate's Options.
func serveGate(t testing.TB, cfg *config.Config, gateClient gossh.Signer, dec Decider, log *slog.Logger, storeDir string, more func(*Options)) *testGate {
	t.Helper()
	st, err := badgerstore.Open(badgerstore.Options{InMemory: storeDir == "", Dir: storeDir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool, err := targets.NewPool(gateClient, cfg.Targets, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	hostKey := testSigner(t)
	svc := NewService(cfg, st, log)
	opts := Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: dec, MPA: svc, Logger: log}
	if more != nil {
		more(&opts)
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testGate{addr: sshtest.Serve(t, g), hostKey: hostKey.PublicKey(), store: st, mpa: svc, gate: g, pool: pool}
}

// testLogger logs through the test; benchmarks log nothing.
func testLogger(t testing.TB) *slog.Logger {
	if _, bench := t.(*testing.B); bench {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

// run execs cmd as login with key and returns stdout, stderr and the exit
// status.
func (tg *testGate) run(t *testing.T, login string, key gossh.Signer, cmd string) (string, string, int) {
	t.Helper()
	return tg.runPTY(t, login, key, cmd, false)
}

// runPTY is run, with a PTY if pty is set (as ssh -t asks for one).
func (tg *testGate) runPTY(t *testing.T, login string, key gossh.Signer, cmd string, pty bool) (string, string, int) {
	t.Helper()
	return sshtest.Run(t, tg.addr, tg.hostKey, login, key, cmd, pty)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

const allowAllPolicy = "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\n"

func TestGateRunsAllowedCommand(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	out, _, status := tg.run(t, "alice+t1", tg.alice, "echo hi; exit 4")
	if out != "hi\n" || status != 4 {
		t.Fatalf("run = %q, status %d; want \"hi\\n\", 4", out, status)
	}
}

// Every decision is recorded before anything runs; when the audit trail
// cannot take the record, the command must not reach the target.
func TestGateDeniesWhenAuditFails(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	marker := filepath.Join(t.TempDir(), "ran")
	if err := tg.store.Close(); err != nil {
		t.Fatal(err)
	}
	_, stderr, status := tg.run(t, "alice+t1", tg.alice, "touch "+marker)
	if status != exitcode.Internal {
		t.Errorf("status = %d (stderr %q); want %d", status, stderr, exitcode.Internal)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command ran although its decision could not be audited (stat: %v)", err)
	}
}

// A held command with MPA off still runs (the vendors' behaviour), but a
// line the matcher cannot resolve is held even then, never run.
func TestGateHoldsUnresolvedEvenWithMPAOff(t *testing.T) {
	tg := startTestGate(t, "version: 1\ndefaults: {required_approvals: 1}\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\n")
	tg.register(t, "carol") // one approver: the quorum of 1 can be reached
	marker := filepath.Join(t.TempDir(), "ran")
	requests := tg.watchRequests(t)

	c, s := tg.session(t, "alice+t1", tg.alice)
	// X is set twice, so the matcher cannot know it (X=touch alone is read
	// as touch since issue 18).
	if err := s.Start("X=touch; X=$X; $X " + marker); err != nil {
		t.Fatal(err)
	}
	r := mpatest.Recv(t, requests, "the gate to file a request for the unresolved line")
	if r.Status != mpa.StatusPending || len(r.Actions) != 1 || r.Actions[0].Name != "unresolved_command" {
		t.Fatalf("request = %s %v; want a pending unresolved_command request", r.Status, r.Actions)
	}
	c.Close() // the requester detaches
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an unresolved line ran with MPA off (stat: %v)", err)
	}
	if got, err := tg.mpa.Get(t.Context(), r.ID); err != nil || got.Status != mpa.StatusPending {
		t.Fatalf("after detaching: %v, %v; want the request still pending", got.Status, err)
	}
}

// Roles are checked, not just target globs: an approver who is not an
// admin runs nothing on a target, and one user's key is not another's.
func TestGateRefusesWhoMayNotRun(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	marker := filepath.Join(t.TempDir(), "ran")
	tests := []struct {
		name  string
		login string
		key   gossh.Signer
	}{
		{"approver without admin role", "carol+t1", tg.carol},
		{"unknown target", "alice+t2", tg.alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, status := tg.run(t, tt.login, tt.key, "touch "+marker)
			if status != exitcode.Refused {
				t.Errorf("%s: status %d (stderr %q); want %d", tt.login, status, stderr, exitcode.Refused)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s ran a command on a target", tt.login)
			}
		})
	}
	// carol's key does not log in as alice.
	_, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: "alice+t1", Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.carol)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
	})
	if err == nil {
		t.Fatal("carol's key logged in as alice")
	}
}

// register makes name a registered approver, with a code from oathtool.
func (tg *testGate) register(t *testing.T, name string) {
	t.Helper()
	mpatest.Register(t, context.Background(), tg.mpa, name, time.Now())
}

// A request that could never reach its quorum (fewer registered
// approvers, the requester excluded, than it needs) is refused at once
// with that reason: no request is filed and nothing runs.
func TestGateRefusesUnreachableQuorum(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy) // unresolved lines need 2 approvals
	marker := filepath.Join(t.TempDir(), "ran")
	for _, tc := range []struct {
		register string
		want     string
	}{
		{"", "only 0 approvers other than alice are registered"},
		{"carol", "only 1 approver other than alice is registered"},
	} {
		if tc.register != "" {
			tg.register(t, tc.register)
		}
		_, stderr, status := tg.run(t, "alice+t1", tg.alice, "X=$(printf touch); $X "+marker)
		if status != exitcode.Pending || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "could never be approved") {
			t.Errorf("with %q registered: status %d, stderr %q; want %d and %q", tc.register, status, stderr, exitcode.Pending, tc.want)
		}
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a line whose quorum is out of reach ran (stat: %v)", err)
		}
		reqs, err := tg.mpa.List(context.Background(), mpa.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) != 0 {
			t.Errorf("requests filed: %d; want none", len(reqs))
		}
	}
}

// tuiConsole is the real console, as cmd/keyturn hands it to the gate.
func tuiConsole(s ssh.Session, c ConsoleSession) error {
	return tui.Serve(s, c.MPA, tui.Viewer{Name: c.User, Approver: c.Approver},
		tui.Options{Stopping: c.Stopping, PolicyProblem: c.PolicyProblem})
}

// session opens a session as login with key on a connection of its own;
// both close when the test ends, or earlier by the caller.
func (tg *testGate) session(t testing.TB, login string, key gossh.Signer) (*gossh.Client, *gossh.Session) {
	t.Helper()
	c := tg.dialAs(t, login, key)
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("session as %s: %v", login, err)
	}
	return c, s
}

// watchRequests is every change to a request from now until the test
// ends.
func (tg *testGate) watchRequests(t testing.TB) <-chan mpa.Request {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	requests, err := tg.mpa.WatchAll(ctx)
	if err != nil {
		t.Fatalf("watch requests: %v", err)
	}
	return requests
}
