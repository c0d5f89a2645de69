package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// TestE2EEtcd runs several real gate processes on one real etcd process
// (this test binary, run as keyturn-etcd, embedding etcd's server), with
// real sshd targets, the real ssh client and oathtool.
func TestE2EEtcd(t *testing.T) {
	requireTools(t, "ssh", "sshd", "ssh-keygen", "oathtool")
	p := scriptParams(t, "testdata/e2e-etcd")
	p.Cmds["etcd"] = cmdEtcd
	p.Cmds["gates"] = cmdGates
	p.Cmds["hook"] = cmdHook
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Values[gatesKey{}] = map[string]*exec.Cmd{}
		env.Values[membersKey{}] = map[string]*member{}
		return setup(env)
	}
	testscript.Run(t, p)
}

// etcdProcessMain is `keyturn-etcd DIR ADDRFILE`: one etcd member on
// loopback, its client URL written to ADDRFILE, until SIGTERM or SIGKILL.
func etcdProcessMain() {
	if len(os.Args) > 1 && os.Args[1] == "member" {
		etcdMemberMain(os.Args[2:])
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: keyturn-etcd DIR ADDRFILE")
		os.Exit(2)
	}
	srv, err := etcdtest.StartIn(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serveUntilSignal(srv, os.Args[2])
}

// serveUntilSignal writes srv's client URL to addrFile, runs until SIGTERM
// or SIGINT, stops srv and exits the process.
func serveUntilSignal(srv *etcdtest.Server, addrFile string) {
	if err := os.WriteFile(addrFile, []byte(srv.Endpoints[0]), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Stop()
	os.Exit(0)
}

// cmdEtcd is `etcd start`: starts keyturn-etcd and sets ETCD_ENDPOINT.
func cmdEtcd(ts *testscript.TestScript, neg bool, args []string) {
	if !neg && len(args) > 0 && args[0] != "start" {
		cmdEtcdCluster(ts, args)
		return
	}
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: etcd start")
	}
	bin, err := lookPathIn("keyturn-etcd", ts.Getenv("PATH"))
	ts.Check(err)
	addrFile := ts.MkAbs("etcd.addr")
	logf, err := os.Create(ts.MkAbs("etcd.log"))
	ts.Check(err)
	cmd := exec.Command(bin, ts.MkAbs("etcd-data"), addrFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	deadline := time.After(time.Minute)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			ts.Setenv("ETCD_ENDPOINT", string(b))
			return
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(ts.MkAbs("etcd.log"))
			ts.Fatalf("etcd exited before serving (%v):\n%s", err, log)
		case <-deadline:
			ts.Fatalf("etcd not serving within a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type gatesKey struct{}

// cmdGates is `gates start NAME CONFIG` and `gates kill NAME`: several
// named gate processes, each logging to NAME.log and reachable as
// `ssh -F ssh_config USER@NAME`.
func cmdGates(ts *testscript.TestScript, neg bool, args []string) {
	procs := ts.Value(gatesKey{}).(map[string]*exec.Cmd)
	switch {
	case len(args) == 3 && args[0] == "start" && !neg:
		procs[args[1]] = startNamedGate(ts, args[1], ts.MkAbs(args[2]))
	case len(args) == 2 && args[0] == "kill" && !neg:
		cmd := procs[args[1]]
		if cmd == nil {
			ts.Fatalf("no gate %s", args[1])
		}
		ts.Check(cmd.Process.Signal(syscall.SIGKILL))
	default:
		ts.Fatalf("usage: gates start NAME CONFIG | gates kill NAME")
	}
}

func startNamedGate(ts *testscript.TestScript, name, cfgPath string) *exec.Cmd {
	bin, err := lookPathIn("keyturn", ts.Getenv("PATH"))
	ts.Check(err)
	addrFile := ts.MkAbs(name + ".addr")
	os.Remove(addrFile)
	logf, err := os.OpenFile(ts.MkAbs(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--addr-file", addrFile)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"))
	cmd.Stdout, cmd.Stderr = logf, logf // synchronous, as startGate's
	ts.Check(cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ts.Defer(func() { cmd.Process.Kill() })
	addr, err := waitListening(addrFile, exited)
	if err != nil {
		log, _ := os.ReadFile(ts.MkAbs(name + ".log"))
		ts.Fatalf("gate %s: %v:\n%s", name, err, log)
	}
	ts.Check(appendSSHHost(ts, name, cfgPath, addr))
	return cmd
}

// appendSSHHost adds Host NAME to ssh_config, trusting exactly that gate's
// host key.
func appendSSHHost(ts *testscript.TestScript, name, cfgPath, addr string) error {
	host, port, known, err := gateKnownHost(cfgPath, addr)
	if err != nil {
		return err
	}
	kh := ts.MkAbs("known_hosts_" + name)
	if err := os.WriteFile(kh, []byte(known), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(ts.MkAbs("ssh_config"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.WriteString(f, sshHostEntry(name, host, port, kh))
	return err
}
