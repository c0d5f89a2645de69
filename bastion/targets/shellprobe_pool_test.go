package targets

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/sshtest"
)

// bashTarget is an SSH server whose "login shell" is the local bash with
// a clean environment: it answers the shell probe as a plain bash login
// does (it runs it), and every other command with "done". hang, if set,
// makes it answer nothing to the probe until the channel closes.
type bashTarget struct {
	addr   string
	hang   bool
	bash   string // the bash that runs the probe
	mu     sync.Mutex
	conns  []net.Conn
	probes int
}

func startBashTarget(t *testing.T, client gossh.PublicKey, hang bool) (*bashTarget, gossh.PublicKey) {
	t.Helper()
	bt := &bashTarget{hang: hang, bash: sshtest.Tool(t, "bash")}
	addr, hostKey := serveSSH(t, client, bt.serve)
	bt.addr = addr
	// Before serveSSH waits for the connections' ends: a hung probe
	// ends only when its connection does.
	t.Cleanup(bt.cut)
	return bt, hostKey
}

func (bt *bashTarget) probeCount() int {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return bt.probes
}

// cut closes every connection from the target's side.
func (bt *bashTarget) cut() {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	for _, c := range bt.conns {
		c.Close()
	}
	bt.conns = nil
}

func (bt *bashTarget) serve(nc net.Conn, cfg *gossh.ServerConfig) {
	bt.mu.Lock()
	bt.conns = append(bt.conns, nc)
	bt.mu.Unlock()
	defer nc.Close()
	sc, chans, reqs, err := gossh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	for nch := range chans {
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				var req struct{ Command string }
				gossh.Unmarshal(r.Payload, &req)
				r.Reply(true, nil)
				status := uint32(0)
				if IsShellProbe(req.Command) {
					bt.mu.Lock()
					bt.probes++
					bt.mu.Unlock()
					if bt.hang {
						for range creqs {
						}
						return
					}
					cmd := exec.Command(bt.bash, "-c", req.Command)
					cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
					cmd.Stdout = ch
					if err := cmd.Run(); err != nil {
						status = 1
					}
				} else {
					ch.Write([]byte("done\n"))
				}
				ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{status}))
				return
			}
		}()
	}
	sc.Wait()
}

func bashPool(t *testing.T, tc config.Target, hang bool) (*Pool, *bashTarget) {
	t.Helper()
	client := sshtest.Signer(t)
	bt, hostKey := startBashTarget(t, client.PublicKey(), hang)
	tc.Name, tc.Address, tc.User, tc.HostKeys = "t1", bt.addr, "x", []string{authorized(hostKey)}
	p, err := NewPool(client, []config.Target{tc}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, bt
}

func waitProbe(t *testing.T, p *Pool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain, err := p.WaitShellProbe(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// Sessions are wrapped until the probe has answered yes; a new connection
// (after the old one broke) starts wrapped again, until its own probe.
func TestShellProbePerConnection(t *testing.T) {
	p, bt := bashPool(t, config.Target{ShellWrapper: config.ShellWrapperAuto}, false)
	if runOne(t, p) {
		t.Fatal("first session on a new connection: PlainBash before any probe")
	}
	if !waitProbe(t, p) {
		t.Fatal("probe of a plain bash said no")
	}
	if !runOne(t, p) {
		t.Fatal("session after the probe's yes: not PlainBash")
	}
	bt.cut()
	// Once the pool has seen the connection end, the next session dials
	// a new one.
	waitFor(t, "the broken connection is still in the pool", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.conns["t1"]) == 0
	})
	s, err := p.NewSession(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	if s.PlainBash() {
		t.Error("session on a new connection: PlainBash before its probe")
	}
	s.Close()
	if !waitProbe(t, p) {
		t.Fatal("probe of the new connection said no")
	}
	if n := bt.probeCount(); n != 2 {
		t.Errorf("%d probes; want one per connection, 2", n)
	}
}

// A probe with no answer ends at its timeout as a no, and its channel is
// closed.
func TestShellProbeTimeout(t *testing.T) {
	p, _ := bashPool(t, config.Target{ShellWrapper: config.ShellWrapperAuto}, true)
	p.ShellProbeTimeout = 200 * time.Millisecond
	runOne(t, p)
	if waitProbe(t, p) {
		t.Fatal("a probe with no answer said yes")
	}
	if runOne(t, p) {
		t.Error("PlainBash after a probe timed out")
	}
	p.mu.Lock()
	c := p.conns["t1"][0]
	inUse := c.inUse()
	p.mu.Unlock()
	if inUse != 0 {
		t.Errorf("%d places in use after the sessions and the probe ended; want 0", inUse)
	}
}

// No probe runs for shell_wrapper: always, for a Target built in code
// (empty: always), or for a guarded target.
func TestShellProbeNotRun(t *testing.T) {
	for name, tc := range map[string]config.Target{
		"always":  {ShellWrapper: config.ShellWrapperAlways},
		"empty":   {},
		"guarded": {ShellWrapper: config.ShellWrapperAuto, Guard: true},
	} {
		t.Run(name, func(t *testing.T) {
			p, bt := bashPool(t, tc, false)
			for range 3 {
				if runOne(t, p) {
					t.Fatal("PlainBash")
				}
			}
			p.Close() // waits for any probe
			if n := bt.probeCount(); n != 0 {
				t.Errorf("%d probes ran", n)
			}
		})
	}
}
