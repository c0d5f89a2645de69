package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/bastion/notify"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// etcdMemberMain is `keyturn-etcd member DIR ADDRFILE NAME CLIENT PEER
// INITIAL`: one member of a cluster of separate etcd processes on
// loopback, until SIGTERM or SIGKILL. Its data stays in DIR, so the same
// command starts it again after a kill.
func etcdMemberMain(args []string) {
	if len(args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: keyturn-etcd member DIR ADDRFILE NAME CLIENT PEER INITIAL")
		os.Exit(2)
	}
	dir, addrFile, name, client, peer, initial := args[0], args[1], args[2], args[3], args[4], args[5]
	srv, err := etcdtest.StartMember(dir, name, client, peer, initial)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serveUntilSignal(srv, addrFile)
}

// member is one etcd process of `etcd cluster`.
type member struct {
	args []string
	cmd  *exec.Cmd
}

type membersKey struct{}

// freePorts asks the kernel for n free loopback ports at once (all held
// open until all are chosen, so they differ). A member started right after
// binds them; another process taking one in between makes that start fail
// with a clear error, not a hang.
func freePorts(ts *testscript.TestScript, n int) []string {
	var ls []net.Listener
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// cmdEtcdCluster is `etcd cluster N`, `etcd kill NAME` and `etcd restart
// NAME`: N member processes m0..mN-1; ETCD_ENDPOINTS lists their client
// URLs (comma-separated, for a YAML flow list).
func cmdEtcdCluster(ts *testscript.TestScript, args []string) {
	ms := ts.Value(membersKey{}).(map[string]*member)
	switch {
	case len(args) == 2 && args[0] == "cluster":
		var n int
		if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 || n > 5 {
			ts.Fatalf("etcd cluster N: N from 1 to 5")
		}
		ports := freePorts(ts, 2*n)
		var initial, endpoints []string
		for i := range n {
			initial = append(initial, fmt.Sprintf("m%d=http://%s", i, ports[2*i+1]))
			endpoints = append(endpoints, "http://"+ports[2*i])
		}
		var wg sync.WaitGroup
		for i := range n {
			name := fmt.Sprintf("m%d", i)
			m := &member{args: []string{"member", ts.MkAbs("etcd-" + name), ts.MkAbs(name + ".addr"), name,
				ports[2*i], ports[2*i+1], strings.Join(initial, ",")}}
			ms[name] = m
			m.cmd = startMember(ts, name, m.args)
		}
		for i := range n { // members become ready together, once they have a leader
			name := fmt.Sprintf("m%d", i)
			wg.Go(func() { waitMember(ts, name, ms[name].cmd) })
		}
		wg.Wait()
		ts.Setenv("ETCD_ENDPOINTS", strings.Join(endpoints, ", "))
	case len(args) == 2 && args[0] == "kill":
		m := ms[args[1]]
		if m == nil {
			ts.Fatalf("no etcd member %s", args[1])
		}
		ts.Check(m.cmd.Process.Signal(syscall.SIGKILL))
		m.cmd.Wait()
	case len(args) == 2 && args[0] == "restart":
		m := ms[args[1]]
		if m == nil {
			ts.Fatalf("no etcd member %s", args[1])
		}
		// Ready only once a quorum is back: wait for it in the script
		// (etcd wait NAME), so that two members can be restarted first.
		m.cmd = startMember(ts, args[1], m.args)
	case len(args) == 2 && args[0] == "wait":
		m := ms[args[1]]
		if m == nil {
			ts.Fatalf("no etcd member %s", args[1])
		}
		waitMember(ts, args[1], m.cmd)
	default:
		ts.Fatalf("usage: etcd start | etcd cluster N | etcd kill NAME | etcd restart NAME | etcd wait NAME")
	}
}

func startMember(ts *testscript.TestScript, name string, args []string) *exec.Cmd {
	bin, err := lookPathIn("keyturn-etcd", ts.Getenv("PATH"))
	ts.Check(err)
	os.Remove(ts.MkAbs(name + ".addr"))
	logf, err := os.OpenFile(ts.MkAbs(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	return cmd
}

// waitMember waits (bounded) until member name serves clients.
func waitMember(ts *testscript.TestScript, name string, cmd *exec.Cmd) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ts.MkAbs(name + ".addr")); err == nil && len(b) > 0 {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(ts.MkAbs(name + ".log"))
	ts.Fatalf("etcd member %s not serving within a minute:\n%s", name, log)
}

// hookProcessMain is `keyturn-hook ADDRFILE LOGFILE`: a webhook receiver
// on loopback that appends "DELIVERY-ID EVENT REQUEST" for each POST.
func hookProcessMain() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: keyturn-hook ADDRFILE LOGFILE")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := os.OpenFile(os.Args[2], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n notify.Notification
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		fmt.Fprintf(out, "%s %s %s\n", r.Header.Get(notify.HeaderDelivery), n.Event, n.Request)
		mu.Unlock()
	})}
	if err := os.WriteFile(os.Args[1], []byte("http://"+l.Addr().String()+"/hook"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv.Serve(l)
}

// cmdHook is `hook start`: a webhook receiver process; HOOK_URL is its URL
// and hook.log what it received.
func cmdHook(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: hook start")
	}
	bin, err := lookPathIn("keyturn-hook", ts.Getenv("PATH"))
	ts.Check(err)
	addrFile := ts.MkAbs("hook.addr")
	cmd := exec.Command(bin, addrFile, ts.MkAbs("hook.log"))
	ts.Check(cmd.Start())
	ts.Defer(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			ts.Setenv("HOOK_URL", string(b))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("webhook receiver not listening within a minute")
}
