package server

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/internal/testkey"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// advPolicy holds kill for one approval and lets everything else run.
const advPolicy = "version: 1\ndefaults:\n  required_approvals: 1\nactions:\n  - name: kill_process\n    service: process\n    required_approvals: 1\n    match: [{command: kill}]\n"

var testSigner = testkey.Signer

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
	c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
	})
	if err != nil {
		t.Fatalf("dial gate as %s: %v", login, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	err = s.Run(cmd)
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitStatus()
	}
	t.Fatalf("run %q: %v", cmd, err)
	return "", "", -1
}
