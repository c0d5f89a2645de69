package bastion

import (
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpacli"
)

// auditHead is the last sequence number in tg's audit chain.
func (tg *testGate) auditHead(t *testing.T) uint64 {
	t.Helper()
	var head audit.Head
	err := tg.store.View(context.Background(), func(tx mpa.Tx) error {
		var err error
		head, err = tx.AuditHead(tx.AuditChain())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return head.Seq
}

// tryLine sends line as alice+t1 and returns the exit status, or -1 and
// the error when the SSH layer itself failed.
func (tg *testGate) tryLine(t *testing.T, login, line string) (int, string, error) {
	t.Helper()
	c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.alice)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return -1, "", err
	}
	defer s.Close()
	var errOut strings.Builder
	s.Stderr = &errOut
	err = s.Run(line)
	if exit, ok := err.(*gossh.ExitError); ok {
		return exit.ExitStatus(), errOut.String(), nil
	}
	if err != nil {
		return -1, errOut.String(), err
	}
	return 0, errOut.String(), nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestGateRefusesLongLine is issue 16 item 3: one long line cost hundreds
// of megabytes of store and gigabytes of memory. Now a line over
// max_command_line (64 KiB by default) is refused with its own exit status
// before anything is decided or stored, and memory stays flat.
func TestGateRefusesLongLine(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	before := tg.auditHead(t)
	heap := heapInUse()

	long := "echo " + strings.Repeat("$(echo ", 200<<10/7)
	for _, login := range []string{"alice+t1", "alice"} {
		for range 10 {
			st, stderr, err := tg.tryLine(t, login, long)
			if err != nil || st != exitcode.TooLong || !strings.Contains(stderr, "at most 65536") {
				t.Fatalf("a %d-byte line as %s: exit %d, %v, stderr %q; want %d", len(long), login, st, err, stderr, exitcode.TooLong)
			}
		}
	}
	// A 1 MiB line does not even fit an SSH packet; whatever the client
	// makes of it, the gate stays up and stores nothing.
	huge := strings.Repeat("$(", 1<<19)
	for range 3 {
		if st, _, err := tg.tryLine(t, "alice+t1", huge); st == 0 || st == -1 && err == nil {
			t.Fatalf("a 1 MiB line: exit %d, %v", st, err)
		}
	}
	if after := tg.auditHead(t); after != before {
		t.Errorf("refused lines left %d audit events", after-before)
	}
	if grown := int64(heapInUse()) - int64(heap); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB over refused lines", grown>>20)
	}
	// The line just under the bound still goes through.
	if st, stderr, err := tg.tryLine(t, "alice+t1", "echo "+strings.Repeat("a", 64<<10-len("echo "))); err != nil || st != 0 {
		t.Fatalf("a line of exactly 64 KiB: exit %d, %v, %q", st, err, stderr)
	}
}

// TestGateStoresNestedLineOnce: a 60 KiB line of nested $(...), under the
// bound, is decided and held; each record stores the line at most once
// and stays within a bound, however the policy explains itself.
func TestGateStoresNestedLineOnce(t *testing.T) {
	tg := startTestGate(t, advPolicy)
	advEnableMPA(t, tg)
	depth := (60 << 10) / (len("$(kill ") + 1) // kill is held by advPolicy
	line := strings.Repeat("$(kill ", depth) + "1" + strings.Repeat(")", depth)
	line = "kill " + line
	if len(line) > 64<<10 {
		t.Fatalf("test line is %d bytes", len(line))
	}
	requests := tg.watchRequests(t)
	c, s := tg.session(t, "alice+t1", tg.alice)
	s.Stderr, s.Stdout = io.Discard, io.Discard
	if err := s.Start(line); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	var req mpa.Request
	select {
	case req = <-firstPending(requests, "alice"):
	case <-done:
		t.Log("the session ended without a request (the line was denied outright)")
	case <-time.After(2 * time.Minute):
		t.Fatal("no request and no end of session within 2 minutes")
	}
	c.Close()

	const bound = 64<<10 + mpacli.MaxWhyBytes + 4<<10
	n := 0
	for e, err := range tg.mpa.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Data) > bound {
			t.Errorf("audit event %d (%s) is %d bytes; want at most %d", e.Seq, e.Kind, len(e.Data), bound)
		}
		if k := strings.Count(string(e.Data), line); k > 1 {
			t.Errorf("audit event %d (%s) holds the line %d times", e.Seq, e.Kind, k)
		}
		if e.Kind == audit.KindDecision {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d decision events, want 1", n)
	}
	if req.ID != "" {
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > bound || strings.Count(string(b), line) != 1 {
			t.Errorf("request %s is %d bytes with %d copies of the line", req.ID, len(b), strings.Count(string(b), line))
		}
	}
	if err := tg.mpa.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func firstPending(ch <-chan mpa.Request, requester string) <-chan mpa.Request {
	out := make(chan mpa.Request, 1)
	go func() {
		for r := range ch {
			if r.Requester == requester && r.Status == mpa.StatusPending {
				out <- r
				return
			}
		}
	}()
	return out
}

// The decision event the gate writes is the payload metrics reads:
// audit.DecisionData, with the verdict, the line and the session's key.
func TestDecisionEventIsTyped(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	if out, _, st := tg.run(t, "alice+t1", tg.alice, "echo typed"); st != 0 || out != "typed\n" {
		t.Fatalf("echo: %q, status %d", out, st)
	}
	var got []audit.DecisionData
	for e, err := range tg.mpa.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != audit.KindDecision {
			continue
		}
		var d audit.DecisionData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("decision event %d: %v\n%s", e.Seq, err, e.Data)
		}
		got = append(got, d)
	}
	if len(got) != 1 {
		t.Fatalf("%d decision events; want 1", len(got))
	}
	d := got[0]
	if d.Verdict != "allow" || d.Command != "echo typed" || !strings.HasPrefix(d.Key, "SHA256:") || d.Remote == "" || d.Actions == nil {
		t.Errorf("decision data = %+v; want allow, the line, the key and the remote address", d)
	}
}
