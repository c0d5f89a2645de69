package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/cmd/internal/localsshd"
)

// scriptParams is the shared setup for every testscript in this package.
// Scripts get HOME in their work dir, and these commands:
//
//	keygen NAME             ed25519 key in keys/NAME; $NAME_PUB is its authorized_keys line
//	sshd [-maxsessions=N] NAME  a real OpenSSH sshd on loopback; $NAME_ADDR, $NAME_HOSTKEY,
//	                        and sshd/NAME/authorized_keys for the keys it accepts
//	render SRC DST          copy SRC to DST expanding $VARS from the script's environment
//	gate start [CONFIG]     run 'keyturn serve' in the background (default keyturn.yaml);
//	                        writes ssh_config with a Host "gate" and the gate's host key
//	gate stop|kill|hup      SIGTERM and wait, SIGKILL, or SIGHUP the running gate
//	freeport VAR            set $VAR to a loopback port that was free a moment ago
func scriptParams(t *testing.T, dir string) testscript.Params {
	t.Helper()
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			me, err := user.Current()
			if err != nil {
				return err
			}
			env.Setenv("USER", me.Username)
			// $SHIPPED_POLICY is the repository's policies.yaml, which the
			// demo must carry byte for byte.
			shipped, err := filepath.Abs(filepath.Join("..", "..", "policies.yaml"))
			if err != nil {
				return err
			}
			env.Setenv("SHIPPED_POLICY", shipped)
			env.Values[gateKey{}] = &gateSlot{}
			return nil
		},
		Cmds: mergeCmds(mpaCmds, outputCmds, hostileCmds, map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"keygen": cmdKeygen,
			"sshd":   cmdSSHD,
			"render": cmdRender,
			"gate":   cmdGate,
			"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: freeport VAR")
				}
				port, err := localsshd.FreePort()
				ts.Check(err)
				ts.Setenv(args[0], fmt.Sprint(port))
			},
		}),
	}
}

func mergeCmds(sets ...map[string]func(*testscript.TestScript, bool, []string)) map[string]func(*testscript.TestScript, bool, []string) {
	all := make(map[string]func(*testscript.TestScript, bool, []string))
	for _, set := range sets {
		for name, cmd := range set {
			all[name] = cmd
		}
	}
	return all
}

func envName(name, suffix string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name)) + "_" + suffix
}

// writeKey creates an ed25519 key at path (and path.pub), as the gate
// creates its own.
func writeKey(path string) (gossh.PublicKey, error) {
	key, err := bastion.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	line := bastion.AuthorizedKey(key.PublicKey(), filepath.Base(path))
	return key.PublicKey(), os.WriteFile(path+".pub", []byte(line+"\n"), 0o644)
}

func cmdKeygen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: keygen NAME")
	}
	pub, err := writeKey(ts.MkAbs(filepath.Join("keys", args[0])))
	ts.Check(err)
	ts.Setenv(envName(args[0], "PUB"), bastion.AuthorizedKey(pub, args[0]))
}

func cmdRender(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: render SRC DST")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	out := os.Expand(string(data), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// cmdSSHD starts a real sshd as a target (see localsshd).
func cmdSSHD(ts *testscript.TestScript, neg bool, args []string) {
	maxSessions := 0
	if len(args) > 0 && strings.HasPrefix(args[0], "-maxsessions=") {
		n, err := strconv.Atoi(strings.TrimPrefix(args[0], "-maxsessions="))
		ts.Check(err)
		maxSessions, args = n, args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sshd [-maxsessions=N] NAME")
	}
	name := args[0]
	srv, err := localsshd.Start(context.Background(), localsshd.Options{Dir: ts.MkAbs(filepath.Join("sshd", name)), MaxSessions: maxSessions})
	ts.Check(err)
	ts.Defer(srv.Stop)
	ts.Setenv(envName(name, "ADDR"), srv.Addr)
	ts.Setenv(envName(name, "HOSTKEY"), srv.HostKey)
}

// gateProc is the background gate of one script.
type gateProc struct {
	cmd    *exec.Cmd
	exited chan error
}

// waitBound is how long a script waits for the gate to start or exit
// before it fails with a message rather than hanging the test binary.
const waitBound = 60 * time.Second

// wait returns the gate's exit error, failing the script if the gate has
// not exited within waitBound.
func (g *gateProc) wait(ts *testscript.TestScript) error {
	t := time.NewTimer(waitBound)
	defer t.Stop()
	select {
	case err := <-g.exited:
		return err
	case <-t.C:
		g.cmd.Process.Kill()
		ts.Fatalf("gate still running %v after it was told to stop", waitBound)
		return nil
	}
}

func cmdGate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: gate start [CONFIG] | stop | kill | hup")
	}
	slot := ts.Value(gateKey{}).(*gateSlot)
	v := slot.proc
	switch args[0] {
	case "start":
		cfgPath := "keyturn.yaml"
		if len(args) > 1 {
			cfgPath = args[1]
		}
		g, err := startGate(ts, ts.MkAbs(cfgPath))
		if neg {
			if err == nil {
				ts.Fatalf("gate started; want failure")
			}
			ts.Logf("gate failed as expected: %v", err)
			return
		}
		ts.Check(err)
		slot.proc = g
	case "stop", "kill", "hup":
		if v == nil {
			ts.Fatalf("no gate running")
		}
		sig := map[string]os.Signal{"stop": syscall.SIGTERM, "kill": syscall.SIGKILL, "hup": syscall.SIGHUP}[args[0]]
		ts.Check(v.cmd.Process.Signal(sig))
		if args[0] == "hup" {
			return
		}
		err := v.wait(ts)
		v.exited <- err // later waits see it too
		if args[0] == "stop" && err != nil && !neg {
			ts.Fatalf("gate exited with %v", err)
		}
	default:
		ts.Fatalf("unknown gate command %q", args[0])
	}
}

type gateKey struct{}

// gateSlot holds a script's running gate between commands.
type gateSlot struct {
	proc *gateProc
	idle *idleConns // see idleconns
}

func startGate(ts *testscript.TestScript, cfgPath string) (*gateProc, error) {
	bin, err := lookPathIn("keyturn", ts.Getenv("PATH"))
	if err != nil {
		return nil, err
	}
	addrFile := ts.MkAbs("gate.addr")
	os.Remove(addrFile)
	logf, err := os.OpenFile(ts.MkAbs("gate.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--addr-file", addrFile)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"))
	// The gate writes its log straight into the file: a line it logs
	// before answering a client is in gate.log before that client exits.
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateProc{cmd: cmd, exited: make(chan error, 1)}
	go func() { g.exited <- cmd.Wait() }()
	ts.Defer(func() {
		cmd.Process.Kill()
		err := g.wait(ts)
		g.exited <- err
	})
	addr, err := waitListening(addrFile, g.exited)
	if err != nil {
		cmd.Process.Kill()
		log, _ := os.ReadFile(ts.MkAbs("gate.log"))
		return nil, fmt.Errorf("%w:\n%s", err, log)
	}
	return g, writeSSHConfig(ts, cfgPath, addr)
}

// waitListening waits, within waitBound, for a gate started with
// --addr-file to write the address it listens on there (it does once its
// listener is open) and returns it; a gate that exits first is an error,
// and its exit status goes back on exited.
func waitListening(addrFile string, exited chan error) (string, error) {
	deadline := time.Now().Add(waitBound)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b)), nil
		}
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("gate exited before listening (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("gate not listening after %v", waitBound)
		}
	}
}

// writeSSHConfig makes "ssh -F ssh_config USER@gate" reach the gate, trusting
// exactly the gate's host key.
func writeSSHConfig(ts *testscript.TestScript, cfgPath, addr string) error {
	host, port, known, err := gateKnownHost(cfgPath, addr)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ts.MkAbs("known_hosts"), []byte(known), 0o644); err != nil {
		return err
	}
	sshConfig := sshHostEntry("gate", host, port, ts.MkAbs("known_hosts"))
	ts.Setenv("GATE_ADDR", addr)
	ts.Setenv("GATE_PORT", port)
	return os.WriteFile(ts.MkAbs("ssh_config"), []byte(sshConfig), 0o644)
}

func lookPathIn(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not in the script's PATH", name)
}

// sshHostEntry is the ssh_config block for Host name: the gate at
// host:port, trusted only through the host key in knownHosts, with
// nothing interactive and no connection sharing.
func sshHostEntry(name, host, port, knownHosts string) string {
	return fmt.Sprintf(`Host %s
  HostName %s
  Port %s
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  BatchMode yes
  LogLevel ERROR
  ControlPath none
`, name, host, port, knownHosts)
}

// gateKnownHost returns the host and port of addr and the known_hosts line
// that trusts exactly the host key of the gate configured in cfgPath.
func gateKnownHost(cfgPath, addr string) (host, port, line string, err error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return "", "", "", err
	}
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.HostKeyFile))
	if err != nil {
		return "", "", "", err
	}
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", "", fmt.Errorf("gate address %q: %w", addr, err)
	}
	return host, port, fmt.Sprintf("[%s]:%s %s\n", host, port, bastion.AuthorizedKey(hostKey.PublicKey(), "")), nil
}
