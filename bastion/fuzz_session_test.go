package bastion

import (
	"encoding/binary"
	"io"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// fuzzRequestTypes are the session requests the fuzzer sends, known and
// not.
var fuzzRequestTypes = []string{
	"pty-req", "env", "window-change", "signal", "exec", "shell", "subsystem",
	"x11-req", "auth-agent-req@openssh.com", "break", "exit-status", "keepalive@openssh.com", "\x00bogus\xff",
}

// fuzzTargetCommands are what an exec on the target may run: the fuzzer
// drives the transport, not a shell on the test machine.
var fuzzTargetCommands = []string{"echo hi", "stty size", "true", "exit 3", "read x", "printf '%s' \"$TERM\"", ""}

var fuzzSignals = []string{"INT", "TERM", "HUP", "KILL", "USR1", "", "NOPE", "\x00\xff"}

// fuzzOp is one request decoded from the fuzzer's bytes.
type fuzzOp struct {
	typ     string
	want    bool
	payload []byte
}

// decodeFuzzOps turns data into at most 64 requests. Each is a type byte,
// a flags byte (bit 0: want reply; bit 1: a well-formed payload built
// from the next bytes, else raw bytes) and, for raw payloads, a length
// byte and that many bytes.
func decodeFuzzOps(data []byte, onTarget bool) []fuzzOp {
	var ops []fuzzOp
	next := func(n int) []byte {
		if n > len(data) {
			n = len(data)
		}
		b := data[:n]
		data = data[n:]
		return b
	}
	u32 := func() uint32 {
		b := next(4)
		var v [4]byte
		copy(v[:], b)
		return binary.BigEndian.Uint32(v[:])
	}
	for len(data) >= 2 && len(ops) < 64 {
		h := next(2)
		op := fuzzOp{typ: fuzzRequestTypes[int(h[0])%len(fuzzRequestTypes)], want: h[1]&1 != 0}
		wellFormed := h[1]&2 != 0
		if op.typ == "exec" && onTarget {
			// Only a fixed, harmless command runs on the target.
			cmd := fuzzTargetCommands[int(h[1]>>2)%len(fuzzTargetCommands)]
			op.payload = gossh.Marshal(struct{ C string }{cmd})
			ops = append(ops, op)
			continue
		}
		if wellFormed {
			switch op.typ {
			case "pty-req":
				op.payload = ptyReq(string(next(int(h[1]>>2))), u32(), u32())
			case "window-change":
				op.payload = winChange(u32(), u32())
			case "env":
				op.payload = envReq(string(next(int(h[1]>>4))), string(next(int(h[1]>>2)&3*100)))
			case "signal":
				op.payload = gossh.Marshal(struct{ S string }{fuzzSignals[int(h[1]>>2)%len(fuzzSignals)]})
			case "exec", "subsystem":
				op.payload = gossh.Marshal(struct{ S string }{string(next(int(h[1] >> 2)))})
			}
		} else {
			n := next(1)
			if len(n) == 1 {
				op.payload = append([]byte(nil), next(int(n[0]))...)
			}
		}
		ops = append(ops, op)
	}
	return ops
}

// FuzzSessionRequests sends any sequence of session requests, well-formed
// or not, to a gate in process, as the gate's own user and as a target
// user, then ends the session. The gate must not crash, must keep serving,
// and must not keep goroutines once the client is gone.
//
// An input costs a fraction of a second (a login, a session, waiting for
// goroutines to settle), so minimizing every new input stalls the
// fuzzer; run it as
//
//	go test -run '^$' -fuzz FuzzSessionRequests -fuzzminimizetime 1x ./bastion
func FuzzSessionRequests(f *testing.F) {
	tg := startGateOpts(f, allowAll, gateTestOptions{quiet: true, extraConfig: "limits:\n  max_requests_before_exec: 40\n  max_env: 8\n"})
	// A warm-up, so that the target connection exists before the
	// baseline.
	warm := tg.dialAs(f, "alice+t1", tg.alice)
	if s, err := warm.NewSession(); err != nil {
		f.Fatal(err)
	} else if err := s.Run("true"); err != nil {
		f.Fatal(err)
	}
	warm.Close()
	// The baseline is taken at the first input: in fuzzing mode the
	// worker starts goroutines of its own after this point.
	var base int
	var baseOnce sync.Once

	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f.Add(append(append([]byte{0, 0x02 | 5<<2}, "xterm"...), huge...))                                            // pty-req 4294967295x4294967295
	f.Add(append(append([]byte{0, 0x02 | 5<<2}, "xterm"...), append(huge, 4, 0x03|1<<2)...))                      // the same, then exec
	f.Add([]byte{0, 0x00, 8, 0, 0, 0, 5, 'x', 't', 'e', 'r', 'm'})                                                // pty-req with a length past the end
	f.Add([]byte{0, 0x00, 6, 0xff, 0xff, 0xff, 0xfd, 0, 0})                                                       // length that wraps a 32-bit sum
	f.Add([]byte{1, 0x03 | 1<<4 | 1<<2, 'K', 'v', 1, 0x03 | 1<<4 | 1<<2, 'K', 'v', 1, 0x03 | 1<<4, 'K', 4, 0x01}) // env, env, env, exec
	f.Add([]byte{0, 0x02, 0, 0, 0, 80, 0, 0, 0, 24, 2, 0x02, 0, 0, 0, 81, 0, 0, 0, 25, 2, 0x02, 0, 0, 0, 82, 0, 0, 0, 26, 5, 0x01})
	f.Add([]byte{4, 0x01 | 4<<2, 3, 0x02, 3, 0x02 | 1<<2, 3, 0x02 | 6<<2, 3, 0x02, 3, 0x02})                                            // exec then signals
	f.Add([]byte{6, 0x03 | 4<<2, 's', 'f', 't', 'p', 7, 0x01, 8, 0x01, 9, 0x01, 12, 0x01, 11, 0x01, 5, 0x01})                           // refused kinds, then shell
	f.Add([]byte{2, 0x02, 0, 0, 0, 0, 0, 0, 0, 0})                                                                                      // window-change without a terminal
	f.Add(append(append([]byte{0x82, 0x02 | 5<<2}, "xterm"...), append(huge, 4, 1<<2, 2, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1)...)) // on the target: huge pty, stty size, huge window change
	f.Add([]byte{0x86, 4 << 2, 3, 0x02, 3, 0x02, 3, 0x02})                                                                              // on the target: read x, then signals

	f.Fuzz(func(t *testing.T, data []byte) {
		baseOnce.Do(func() {
			time.Sleep(100 * time.Millisecond)
			base = gateGoroutines()
		})
		if len(data) == 0 {
			return
		}
		login, onTarget := "alice", data[0]&0x80 != 0
		if onTarget {
			login = "alice+t1"
		}
		ops := decodeFuzzOps(data, onTarget)
		c := tg.dialAs(t, login, tg.alice)
		ch, reqs, err := c.OpenChannel("session", nil)
		if err != nil {
			t.Fatalf("open session: %v", err)
		}
		go gossh.DiscardRequests(reqs)
		var drained sync.WaitGroup
		drained.Go(func() { io.Copy(io.Discard, ch) })
		drained.Go(func() { io.Copy(io.Discard, ch.Stderr()) })
		within(t, hostileBound, "the fuzzed requests", func() {
			for _, op := range ops {
				if _, err := ch.SendRequest(op.typ, op.want, op.payload); err != nil {
					return // the gate closed the channel
				}
			}
		})
		ch.CloseWrite()
		// A command may be waiting for input that never comes; the
		// client leaves after a moment, as a person would.
		ended := make(chan struct{})
		go func() { drained.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(200 * time.Millisecond):
		}
		c.Close()
		within(t, hostileBound, "the session's output after the client left", drained.Wait)
		waitGoroutines(t, base)
	})
}
