//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/cmd/internal/localsshd"
)

// TestE2EGuard drives the gate to a real sshd whose gate account runs
// keyturn-guard. The test cannot change a real account's login shell, so
// sshd's ForceCommand starts the guard instead: the same process with the
// client's command in SSH_ORIGINAL_COMMAND, except that the account's own
// shell starts it (and may read rc files first, which a login shell of
// keyturn-guard would not).
func TestE2EGuard(t *testing.T) {
	requireTools(t, "ssh", "sshd", "ssh-keygen", "oathtool", "python3")
	p := scriptParams(t, "testdata/e2e-guard")
	p.Cmds["guardinstall"] = cmdGuardInstall
	p.Cmds["guardsshd"] = cmdGuardSSHD
	p.Cmds["victim"] = cmdVictim
	testscript.Run(t, p)
}

// cmdGuardInstall builds keyturn-guard into DIR with the files it reads
// beside it, as 'keyturn guard install' lays them out: the gate's host key
// from DATADIR, POLICY, and TARGET's name.
//
//	guardinstall DIR DATADIR POLICY TARGET
func cmdGuardInstall(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: guardinstall DIR DATADIR POLICY TARGET")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "keyturn-guard"), "github.com/keyturn/keyturn/cmd/keyturn-guard")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		ts.Fatalf("build keyturn-guard: %v\n%s", err, out)
	}
	key, err := bastion.LoadOrCreateKey(filepath.Join(ts.MkAbs(args[1]), bastion.HostKeyFile))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "gate.pub"), []byte(bastion.AuthorizedKey(key.PublicKey(), "gate")+"\n"), 0o644))
	pol, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "policies.yaml"), pol, 0o644))
	ts.Check(os.WriteFile(filepath.Join(dir, "target"), []byte(args[3]+"\n"), 0o644))
}

// cmdGuardSSHD starts an sshd whose logins run the guard in DIR, with HOME
// (where the guard keeps spent nonces) in HOMEDIR.
//
//	guardsshd NAME DIR HOMEDIR
func cmdGuardSSHD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: guardsshd NAME DIR HOMEDIR")
	}
	name := args[0]
	home := ts.MkAbs(args[2])
	ts.Check(os.MkdirAll(home, 0o700))
	srv, err := localsshd.Start(context.Background(), localsshd.Options{
		Dir:   ts.MkAbs(filepath.Join("sshd", name)),
		Extra: fmt.Sprintf("ForceCommand env HOME=%s %s\n", home, filepath.Join(ts.MkAbs(args[1]), "keyturn-guard")),
	})
	ts.Check(err)
	ts.Defer(srv.Stop)
	ts.Setenv(envName(name, "ADDR"), srv.Addr)
	ts.Setenv(envName(name, "HOSTKEY"), srv.HostKey)
}

// cmdVictim starts P, a process outside every guarded tree, in a process
// group of its own; $VAR is its pid. 'victim alive VAR' and '! victim alive
// VAR' check on it (waiting up to 20s for it to die in the second form).
func cmdVictim(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 2 && args[0] == "alive" {
		pid, err := strconv.Atoi(ts.Getenv(args[1]))
		ts.Check(err)
		deadline := time.Now().Add(20 * time.Second)
		for {
			alive := syscall.Kill(pid, 0) == nil && !zombie(pid)
			if alive != neg {
				return
			}
			if !neg || time.Now().After(deadline) {
				ts.Fatalf("P %d alive=%v", pid, alive)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: victim VAR | victim alive VAR")
	}
	c := exec.Command("sleep", "1000")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ts.Check(c.Start())
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	ts.Defer(func() { c.Process.Kill(); <-done })
	ts.Setenv(args[0], strconv.Itoa(c.Process.Pid))
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	for i := len(data) - 1; i > 0; i-- {
		if data[i] == ')' {
			return i+2 < len(data) && data[i+2] == 'Z'
		}
	}
	return false
}
