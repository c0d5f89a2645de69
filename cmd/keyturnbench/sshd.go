package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyturn/keyturn/cmd/internal/localsshd"
)

// sshdHost is one running OpenSSH sshd on loopback.
type sshdHost struct {
	name    string
	addr    string
	port    string
	hostKey string // authorized_keys form of its host key
	srv     *localsshd.Server
}

// startSSHD starts an sshd named name that accepts the keys in authKeys.
// algs, if not empty, are extra config lines (pinned KexAlgorithms and
// Ciphers). HOME is an empty directory of the harness so that the login's
// own dotfiles (bash reads ~/.bashrc for every ssh command; a pyenv init
// there costs 100 ms) do not drown the figures; it is the same on every
// path.
func startSSHD(ctx context.Context, dir, name, authKeys, algs string) (*sshdHost, error) {
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	srv, err := localsshd.Start(ctx, localsshd.Options{
		Dir:            filepath.Join(dir, "sshd-"+name),
		AuthorizedKeys: authKeys,
		LogLevel:       "ERROR",
		Extra:          fmt.Sprintf("AllowTcpForwarding yes\nSetEnv HOME=%s\n%s", home, algs),
	})
	if err != nil {
		return nil, fmt.Errorf("sshd %s: %w", name, err)
	}
	return &sshdHost{name: name, addr: srv.Addr, port: srv.Port, hostKey: srv.HostKey, srv: srv}, nil
}

func (h *sshdHost) stop() { h.srv.Stop() }
