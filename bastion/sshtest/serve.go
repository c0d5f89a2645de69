package sshtest

import (
	"context"
	"net"
	"testing"
	"time"
)

// Server is an SSH server a test starts: the gate, or a gliderlabs server.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// Serve serves srv on a loopback port the system chose until the test
// ends, then shuts it down (waiting at most 5 s for its sessions), and
// returns the address it listens on.
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}
