package main

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// hostileCmds are the e2e script commands for issue 16's attacks:
//
//	idleconns N ADDR        open N TCP connections to ADDR that never send
//	                        a byte, held until the script ends
//	waitclosed N            wait until at least N of them were closed by
//	                        the other side (bounded; fails with a message)
var hostileCmds = map[string]func(*testscript.TestScript, bool, []string){
	"idleconns":  cmdIdleConns,
	"waitclosed": cmdWaitClosed,
}

// idleConns counts the idle connections the peer closed.
type idleConns struct{ closed atomic.Int64 }

func cmdIdleConns(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: idleconns N ADDR")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	ic := &idleConns{}
	var conns []net.Conn
	ts.Defer(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.DialTimeout("tcp", args[1], 30*time.Second)
		if err != nil {
			ts.Fatalf("idle connection %d of %d: %v", i+1, n, err)
		}
		conns = append(conns, c)
		go func() {
			// Never write; read until the gate hangs up.
			_, err := io.Copy(io.Discard, c)
			if err == nil || !errors.Is(err, net.ErrClosed) {
				ic.closed.Add(1)
			}
		}()
	}
	slot := ts.Value(gateKey{}).(*gateSlot)
	slot.idle = ic
}

func cmdWaitClosed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitclosed N")
	}
	want, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	ic := ts.Value(gateKey{}).(*gateSlot).idle
	if ic == nil {
		ts.Fatalf("waitclosed: no idleconns in this script")
	}
	deadline := time.Now().Add(time.Minute)
	for ic.closed.Load() < want {
		if time.Now().After(deadline) {
			ts.Fatalf("only %d idle connections were closed by the gate within a minute; want at least %d", ic.closed.Load(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Logf("%d idle connections closed by the gate", ic.closed.Load())
}
