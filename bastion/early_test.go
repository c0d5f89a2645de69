package bastion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/targets"
)

// arrivals is a target that notes every command that reaches it and, at
// that moment, whether the gate's store already holds the command's
// decision record.
type arrivals struct {
	mu       sync.Mutex
	seen     []string
	early    []string // arrived while the store was open and without a record
	svc      *mpa.Service
	killAt   int    // close the store when this many commands have arrived (0: never)
	kill     func() // closes the store
	channels int    // session channels opened (with or without a command)
	open     int    // session channels open now

	// storeMu keeps the arrival check's read and the kill apart: Badger
	// panics on an iterator opened on a DB being closed.
	storeMu sync.RWMutex
	killed  bool
}

// killStore closes the gate's store (idempotent).
func (a *arrivals) killStore(close func() error) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	if !a.killed {
		a.killed = true
		close()
	}
}

func (a *arrivals) serve(l net.Listener, hostKey gossh.Signer, gateKey gossh.PublicKey) func() {
	srv := &ssh.Server{
		HostSigners: []ssh.Signer{hostKey},
		PublicKeyHandler: func(_ ssh.Context, k ssh.PublicKey) bool {
			return ssh.KeysEqual(k, gateKey)
		},
		Handler: func(s ssh.Session) {
			cmd := s.RawCommand()
			if targets.IsShellProbe(cmd) {
				// The gate's own probe of the login shell
				// (targets/shellprobe.go), not a session's line:
				// answered as a shell that is not bash would.
				s.Exit(97)
				return
			}
			a.mu.Lock()
			a.seen = append(a.seen, cmd)
			n, svc, kill := len(a.seen), a.svc, a.kill
			a.mu.Unlock()
			if svc != nil {
				a.storeMu.RLock()
				if !a.killed {
					if recorded, err := decisionRecorded(svc, cmd); err == nil && !recorded {
						a.mu.Lock()
						a.early = append(a.early, cmd)
						a.mu.Unlock()
					}
				}
				a.storeMu.RUnlock()
			}
			if n == a.killAt && kill != nil {
				kill()
			}
			s.Exit(0)
		},
		ChannelHandlers: map[string]ssh.ChannelHandler{
			"session": func(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
				a.mu.Lock()
				a.channels++
				a.open++
				a.mu.Unlock()
				ssh.DefaultSessionHandler(srv, conn, newChan, ctx) // returns once the channel is closed
				a.mu.Lock()
				a.open--
				a.mu.Unlock()
			},
		},
	}
	go srv.Serve(l)
	return func() { srv.Close() }
}

// decisionRecorded says whether svc's trail has a decision for cmd.
func decisionRecorded(svc *mpa.Service, cmd string) (bool, error) {
	cmds, err := decisionCommands(svc)
	return cmds[cmd], err
}

func decisionCommands(svc *mpa.Service) (map[string]bool, error) {
	out := map[string]bool{}
	for e, err := range svc.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			return out, err
		}
		if e.Kind != audit.KindDecision {
			continue
		}
		var d struct {
			Command string `json:"command"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return out, fmt.Errorf("decision event %d: %w", e.Seq, err)
		}
		// What reaches an unguarded target is the line under bash
		// (targetshell.go).
		out[d.Command] = true
		out[bashCommand("", d.Command)] = true
	}
	return out, nil
}

// No command reaches a target before its decision's record is durable,
// whatever moment the gate dies at. The target channel opens while the
// record commits (early.go), so this is what the overlap must not break.
//
// Each round runs concurrent sessions against a gate with an on-disk,
// synced store and "kills" the gate's store (closes it: every later
// record fails, as after a crash) at a different moment: when the k-th
// command reaches the target, or after a seeded random delay. Then the
// store is reopened from disk, and every command the target saw must
// have its decision there. The target also checks, at each arrival while
// the store is open, that the record is already readable.
func TestNoCommandBeforeItsRecord(t *testing.T) {
	const sessions = 16
	rng := rand.New(rand.NewPCG(13, 13))
	cut := 0 // sessions refused because the store was gone
	for round := range 8 {
		dir := t.TempDir()
		a := &arrivals{}
		if round%2 == 0 {
			a.killAt = 1 + round*2
		}
		tg := startGateOpts(t, mustPolicy(t, allowAllPolicy), gateTestOptions{quiet: true, storeDir: dir, target: a.serve})
		a.mu.Lock()
		a.svc, a.kill = tg.mpa, func() { a.killStore(tg.store.Close) }
		a.mu.Unlock()

		c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
			User: "alice+t1", Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.alice)}, HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
		})
		if err != nil {
			t.Fatalf("round %d: dial gate: %v", round, err)
		}
		var wg sync.WaitGroup
		var failed sync.Map
		for i := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if a.killAt != 0 {
					// Staggered, so that a kill at the k-th arrival
					// finds later sessions before, during and after
					// their records.
					time.Sleep(time.Duration(i) * time.Millisecond)
				}
				s, err := c.NewSession()
				if err != nil {
					failed.Store(i, err)
					return
				}
				defer s.Close()
				if err := s.Run(fmt.Sprintf("true round-%d-%d", round, i)); err != nil {
					failed.Store(i, err)
				}
			}()
		}
		if a.killAt == 0 {
			// Round 1 kills at once (so some session is cut on any
			// machine), the others after a random delay.
			if round > 1 {
				time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
			}
			a.killStore(tg.store.Close)
		}
		waitBounded(t, &wg, 30*time.Second, fmt.Sprintf("round %d: sessions did not end after the store closed", round))
		c.Close()
		// Channels opened for sessions whose record failed are closed
		// by the gate, unused: none is left holding a place on the
		// target (its MaxSessions) while the gate's pool lives on. The
		// pool's spare channels (one per connection) are held on
		// purpose; turned off, they are closed too.
		tg.pool.SetSpares(false)
		for n := 0; ; n++ {
			a.mu.Lock()
			open := a.open
			a.mu.Unlock()
			if open == 0 {
				break
			}
			if n == 1000 {
				t.Fatalf("round %d: %d session channels still open on the target after every session ended", round, open)
			}
			time.Sleep(10 * time.Millisecond)
		}
		failed.Range(func(_, _ any) bool { cut++; return true })

		// Reopen what reached the disk.
		a.killStore(tg.store.Close)
		st, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("round %d: reopen store: %v", round, err)
		}
		recorded, err := decisionCommands(mpa.New(st, mpa.Options{Logger: slog.New(slog.DiscardHandler)}))
		st.Close()
		if err != nil {
			t.Fatalf("round %d: read decisions: %v", round, err)
		}
		a.mu.Lock()
		for _, cmd := range a.seen {
			if !recorded[cmd] {
				t.Errorf("round %d: %q reached the target but its decision is not on disk", round, cmd)
			}
		}
		for _, cmd := range a.early {
			t.Errorf("round %d: %q reached the target before its decision was readable in the store", round, cmd)
		}
		t.Logf("round %d: %d commands reached the target, %d channels opened, %d decisions on disk", round, len(a.seen), a.channels, len(recorded))
		a.mu.Unlock()
	}
	if cut == 0 {
		t.Fatalf("no session was cut by the store closing in any round: the test did not kill anything")
	}
}

func waitBounded(t *testing.T, wg *sync.WaitGroup, d time.Duration, msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal(msg)
	}
}

// Only a request the gate could not write (the connection was already
// broken) is retried on a new channel: an unanswered one (io.EOF) may
// have run, and a refusal is the target's answer.
func TestNotSentOnlyForWriteErrors(t *testing.T) {
	write := &net.OpError{Op: "write", Net: "tcp", Err: errors.New("connection reset by peer")}
	cases := []struct {
		err  error
		want bool
	}{
		{write, true},
		{fmt.Errorf("send: %w", write), true},
		{io.EOF, false},
		{fmt.Errorf("exec: %w", io.EOF), false},
		{errors.New("ssh: command true failed"), false},
		{errors.New("ssh: pty-req failed"), false},
	}
	for _, c := range cases {
		if got := notSent(c.err); got != c.want {
			t.Errorf("notSent(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}
