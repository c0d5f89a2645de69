package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion"
)

// sshdHost is one running OpenSSH sshd on loopback.
type sshdHost struct {
	name    string
	addr    string
	port    string
	hostKey string // authorized_keys form of its host key
	cmd     *exec.Cmd
	exited  chan error
}

// startSSHD starts an unprivileged-config sshd named name that accepts the
// keys in authKeys. algs, if not empty, are extra config lines (pinned
// KexAlgorithms and Ciphers). The port is found by binding port 0 and
// releasing it; if sshd loses it to another process in between, it fails
// to start and another port is tried.
func startSSHD(ctx context.Context, dir, name, authKeys, algs string) (*sshdHost, error) {
	d := filepath.Join(dir, "sshd-"+name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	hostKeyPath := filepath.Join(d, "host_ed25519")
	key, err := bastion.LoadOrCreateKey(hostKeyPath)
	if err != nil {
		return nil, fmt.Errorf("sshd %s host key: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(d, "authorized_keys"), []byte(authKeys), 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd started as root insists on its privilege separation dir.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	bin, err := sshdPath()
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		// MaxSessions bounds sessions per connection: the gate multiplexes
		// every session of the concurrency run on one connection. HOME is
		// an empty directory of the harness so that the login's own
		// dotfiles (bash reads ~/.bashrc for every ssh command; a pyenv
		// init there costs 100 ms) do not drown the figures; it is the
		// same on every path.
		cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding yes
UseDNS no
PrintMotd no
LogLevel ERROR
MaxSessions 1000
MaxStartups 1000
SetEnv HOME=%s
%s`, addr, hostKeyPath, filepath.Join(d, "sshd.pid"), filepath.Join(d, "authorized_keys"), home, algs)
		cfgPath := filepath.Join(d, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(d, "log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-D", "-e", "-f", cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start sshd %s: %w", name, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		if waitBanner(ctx, addr, exited) {
			return &sshdHost{name: name, addr: addr, port: fmt.Sprint(port),
				hostKey: bastion.AuthorizedKey(key.PublicKey(), ""), cmd: cmd, exited: exited}, nil
		}
		cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(d, "log"))
		fmt.Fprintf(os.Stderr, "keyturnbench: sshd %s did not start on %s (attempt %d):\n%s", name, addr, attempt+1, log)
	}
	return nil, fmt.Errorf("sshd %s did not start", name)
}

func (h *sshdHost) stop() {
	h.cmd.Process.Kill()
	<-h.exited
}

func sshdPath() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("sshd not found (install openssh-server)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitBanner reports whether addr answers with an SSH banner before the
// process behind it exits or ctx ends.
func waitBanner(ctx context.Context, addr string, exited <-chan error) bool {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-") {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
