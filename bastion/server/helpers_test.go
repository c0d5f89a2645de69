package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/demotarget"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/sshtest"
)

// advPolicy holds kill for one approval and lets everything else run.
const advPolicy = "version: 1\ndefaults:\n  required_approvals: 1\nactions:\n  - name: kill_process\n    service: process\n    required_approvals: 1\n    match: [{command: kill}]\n"

var testSigner = sshtest.Signer

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// testLogger logs through the test.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

// testGate is a running server as a client sees it.
type testGate struct {
	addr    string
	hostKey gossh.PublicKey
	alice   gossh.Signer
	mpa     *mpa.Service
}

// run execs cmd as login with key and returns stdout, stderr and the exit
// status.
func (tg *testGate) run(t *testing.T, login string, key gossh.Signer, cmd string) (string, string, int) {
	t.Helper()
	return sshtest.Run(t, tg.addr, tg.hostKey, login, key, cmd, false)
}

// serve runs srv on a loopback port until stop is called. stop ends the
// run and returns its error, or an error if the server did not stop within
// a minute; a second call returns nil.
func serve(t testing.TB, srv *Server) (l net.Listener, stop func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, l) }()
	var once sync.Once
	return l, func() error {
		err := error(nil)
		once.Do(func() {
			cancel()
			select {
			case err = <-ran:
			case <-time.After(time.Minute):
				err = errors.New("the server did not stop within a minute")
			}
		})
		return err
	}
}

// startDemoTarget serves a demo target that trusts gateClient on a
// loopback port, and returns its address, its host key and a close that
// stops it.
func startDemoTarget(t testing.TB, gateClient gossh.PublicKey, log *slog.Logger) (addr string, hostKey gossh.PublicKey, close func() error) {
	t.Helper()
	host := testSigner(t)
	target := demotarget.New(host, gateClient, log)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go target.Serve(tl)
	return tl.Addr().String(), host.PublicKey(), target.Close
}

// oneTargetConfig is the users and targets part of a gate config: alice
// an admin with key alice on every target, and one target t1 at addr.
func oneTargetConfig(alice, targetHost gossh.PublicKey, addr string) string {
	return "users:\n  - name: alice\n    roles: [admin]\n    keys: [\"" + bastion.AuthorizedKey(alice, "") + "\"]\n    targets: [\"*\"]\n" +
		"targets:\n  - name: t1\n    address: " + addr + "\n    user: demo\n    host_keys: [\"" + bastion.AuthorizedKey(targetHost, "") + "\"]\n"
}
