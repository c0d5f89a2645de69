package demotarget

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

// startTarget runs a demo target on loopback that trusts client.
func startTarget(t *testing.T, client gossh.Signer) (addr string, host gossh.PublicKey) {
	t.Helper()
	hostKey := sshtest.Signer(t)
	srv := New(hostKey, client.PublicKey(), slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), hostKey.PublicKey()
}

func dial(t *testing.T, addr string, host gossh.PublicKey, key gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "demo",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.FixedHostKey(host),
	})
}

func TestRunsCommandsWithStatus(t *testing.T) {
	gate := sshtest.Signer(t)
	addr, host := startTarget(t, gate)
	c, err := dial(t, addr, host, gate)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Stdout = &out
	s.Stdin = bytes.NewReader([]byte("abc"))
	err = s.Run("cat; echo; exit 3")
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("Run = %v; want exit status 3", err)
	}
	if got := out.String(); got != "abc\n" {
		t.Errorf("stdout = %q; want %q", got, "abc\n")
	}
}

func TestRefusesOtherKeys(t *testing.T) {
	addr, host := startTarget(t, sshtest.Signer(t))
	if c, err := dial(t, addr, host, sshtest.Signer(t)); err == nil {
		c.Close()
		t.Fatal("a key other than the gate's logged in to the demo target")
	}
}
