package targets

import (
	"errors"
	"net"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

// serveSSH listens on a loopback port with a fresh host key and accepts
// only the client key; each connection goes to serve, with the server
// config, in a goroutine of its own. The test's end closes the listener
// and waits for every serve to return (so a serve must end once the pool,
// closed first, has hung up). The test targets below are each a serve.
func serveSSH(t *testing.T, client gossh.PublicKey, serve func(net.Conn, *gossh.ServerConfig)) (addr string, hostKey gossh.PublicKey) {
	t.Helper()
	host := sshtest.Signer(t)
	cfg := &gossh.ServerConfig{PublicKeyCallback: func(_ gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
		if string(k.Marshal()) != string(client.Marshal()) {
			return nil, errors.New("unknown key")
		}
		return nil, nil
	}}
	cfg.AddHostKey(host)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(nc, cfg) })
		}
	})
	return l.Addr().String(), host.PublicKey()
}
