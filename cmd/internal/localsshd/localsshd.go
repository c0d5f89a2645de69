// Package localsshd starts a real OpenSSH sshd on loopback with an
// unprivileged config and throwaway keys, for keyturn's end-to-end tests and
// its benchmark harness: the targets and jump hosts they measure against
// are the real server admins would otherwise use.
package localsshd

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

// Options describe one sshd.
type Options struct {
	// Dir holds its config, host key, authorized_keys, pid file and log.
	Dir string
	// AuthorizedKeys is the first content of Dir/authorized_keys; the
	// file may be rewritten while sshd runs.
	AuthorizedKeys string
	// LogLevel is sshd's LogLevel; VERBOSE by default.
	LogLevel string
	// Extra is appended to the config (pinned algorithms, SetEnv, ...).
	// sshd keeps the first value of a keyword, so Extra cannot override
	// the ones Start writes; MaxSessions has its own field.
	Extra string
	// MaxSessions is sshd's MaxSessions, the sessions it allows on one
	// connection; 0 means 1000, so that tests and benchmarks do not hit
	// it unless they mean to.
	MaxSessions int
	// UserKeys makes sshd read each user's own ~/.ssh/authorized_keys
	// with StrictModes on, as a real server does, instead of
	// Dir/authorized_keys (for tests that log in to real accounts).
	UserKeys bool
}

// Server is a running sshd.
type Server struct {
	Addr    string // 127.0.0.1:PORT
	Port    string
	HostKey string // its host key as an authorized_keys line
	// AuthorizedKeysFile is the file of keys it accepts.
	AuthorizedKeysFile string
	cmd                *exec.Cmd
	exited             chan error
}

// Start starts an sshd and waits until it answers with an SSH banner. The
// port is found by binding port 0 and releasing it; if sshd loses it to
// another process in between it fails to start, and another port is tried.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	hostKeyPath := filepath.Join(o.Dir, "host_ed25519")
	key, err := bastion.LoadOrCreateKey(hostKeyPath)
	if err != nil {
		return nil, fmt.Errorf("sshd host key: %w", err)
	}
	authKeys := filepath.Join(o.Dir, "authorized_keys")
	if err := os.WriteFile(authKeys, []byte(o.AuthorizedKeys), 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd started as root insists on its privilege separation dir.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	logLevel := o.LogLevel
	if logLevel == "" {
		logLevel = "VERBOSE"
	}
	var tries []string
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		// MaxSessions bounds sessions per connection; the gate
		// multiplexes sessions to a target on as few connections as it
		// can (see targets.Pool).
		maxSessions := o.MaxSessions
		if maxSessions <= 0 {
			maxSessions = 1000
		}
		keysFile, strict := authKeys, "no"
		if o.UserKeys {
			keysFile, strict = ".ssh/authorized_keys", "yes"
		}
		cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes %s
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
LogLevel %s
MaxSessions %d
MaxStartups 1000
%s`, addr, hostKeyPath, filepath.Join(o.Dir, "sshd.pid"), keysFile, strict, logLevel, maxSessions, o.Extra)
		cfgPath := filepath.Join(o.Dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		logPath := filepath.Join(o.Dir, "log")
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-D", "-e", "-f", cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start sshd: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		if waitBanner(ctx, addr, exited) {
			return &Server{Addr: addr, Port: fmt.Sprint(port), HostKey: bastion.AuthorizedKey(key.PublicKey(), ""),
				AuthorizedKeysFile: authKeys, cmd: cmd, exited: exited}, nil
		}
		cmd.Process.Kill()
		log, _ := os.ReadFile(logPath)
		tries = append(tries, fmt.Sprintf("attempt %d on %s:\n%s", attempt+1, addr, log))
	}
	return nil, fmt.Errorf("sshd did not start:\n%s", strings.Join(tries, "\n"))
}

// Stop kills the sshd and waits for it.
func (s *Server) Stop() {
	s.cmd.Process.Kill()
	err := <-s.exited
	s.exited <- err
}

// Path finds the sshd binary; Debian keeps it outside a user's PATH.
func Path() (string, error) {
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

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
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
