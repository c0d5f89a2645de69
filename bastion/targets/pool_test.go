package targets

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/demotarget"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

func authorized(k gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
}

// countingListener counts accepted connections, to see the pool reuse one.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) accepted() []net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]net.Conn(nil), l.conns...)
}

// demoPool returns a pool with one target, t1, served by a demotarget
// that counts the connections it accepts. The pool closes with the test.
func demoPool(t *testing.T) (*Pool, *countingListener) {
	t.Helper()
	client := sshtest.Signer(t)
	l, hostKey := startTarget(t, client.PublicKey())
	p, err := NewPool(client, []config.Target{{Name: "t1", Address: l.Addr().String(), User: "x", HostKeys: []string{authorized(hostKey)}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, l
}

// startTarget runs a real SSH server (the demo target) on loopback.
func startTarget(t *testing.T, client gossh.PublicKey) (*countingListener, gossh.PublicKey) {
	t.Helper()
	host := sshtest.Signer(t)
	srv := demotarget.New(host, client, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return cl, host.PublicKey()
}

func run(t *testing.T, p *Pool, target, cmd string) (string, error) {
	t.Helper()
	s, err := p.NewSession(context.Background(), target)
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output(cmd)
	return string(out), err
}

func TestPoolReusesOneConnection(t *testing.T) {
	p, l := demoPool(t)

	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := run(t, p, "t1", "echo ok"); err != nil || out != "ok\n" {
				t.Errorf("run = %q, %v; want \"ok\\n\"", out, err)
			}
		}()
	}
	wg.Wait()
	if n := len(l.accepted()); n != 1 {
		t.Errorf("target saw %d connections for 10 sessions; want 1", n)
	}
}

func TestPoolRedialsBrokenConnection(t *testing.T) {
	p, l := demoPool(t)
	// A channel open on a broken connection fails at once; this is that
	// path. (A spare on it is discarded once the pool has seen the break:
	// TestPoolSpareOnBrokenConnection.)
	p.SetSpares(false)
	if _, err := run(t, p, "t1", "true"); err != nil {
		t.Fatal(err)
	}
	// Break the pooled connection from the target's side.
	for _, c := range l.accepted() {
		c.Close()
	}
	out, err := run(t, p, "t1", "echo again")
	if err != nil || out != "again\n" {
		t.Fatalf("after the connection broke: run = %q, %v; want a fresh connection", out, err)
	}
	if n := len(l.accepted()); n != 2 {
		t.Errorf("target saw %d connections; want 2 (one redial)", n)
	}
}

func TestPoolRefusesWrongHostKey(t *testing.T) {
	client := sshtest.Signer(t)
	l, hostKey := startTarget(t, client.PublicKey())
	other := sshtest.Signer(t).PublicKey()
	p, err := NewPool(client, []config.Target{{Name: "web-9", Address: l.Addr().String(), User: "x", HostKeys: []string{authorized(other)}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = run(t, p, "web-9", "true")
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("run on a target with the wrong host key = %v; want a HostKeyError", err)
	}
	wantPresented := "ssh-ed25519 " + gossh.FingerprintSHA256(hostKey)
	wantWant := "ssh-ed25519 " + gossh.FingerprintSHA256(other)
	if hk.Target != "web-9" || hk.Presented != wantPresented || len(hk.Want) != 1 || hk.Want[0] != wantWant {
		t.Errorf("HostKeyError = %+v; want target web-9, presented %s, want %s", hk, wantPresented, wantWant)
	}
	if !strings.Contains(err.Error(), wantPresented) || !strings.Contains(err.Error(), wantWant) {
		t.Errorf("error %q does not name both fingerprints", err)
	}
}

func TestPoolUnknownTarget(t *testing.T) {
	p, err := NewPool(sshtest.Signer(t), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.NewSession(context.Background(), "ghost"); !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("NewSession(ghost) = %v; want ErrUnknownTarget", err)
	}
}
