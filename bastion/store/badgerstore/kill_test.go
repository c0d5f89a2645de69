package badgerstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// killChildEnv names the data dir a re-executed test binary records into
// until it is killed (see recordUntilKilled).
const killChildEnv = "KEYTURN_BADGER_KILL_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		recordUntilKilled(dir)
		return
	}
	os.Exit(m.Run())
}

// recordUntilKilled opens the store at dir and records from 16 goroutines
// (group-committed, plus transactions appending two at once) without end,
// printing each append as JSON the moment it is reported committed.
func recordUntilKilled(dir string) {
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	seq := mpa.NewSequencer(st, 0)
	ctx := context.Background()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	report := func(es ...audit.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			b, _ := json.Marshal(audit.Head{Seq: e.Seq, Hash: e.Hash})
			out.Write(append(b, '\n'))
		}
		out.Flush() // reported = written to the parent, before anything else
	}
	for g := range 16 {
		go func() {
			for i := 0; ; i++ {
				ev := audit.Event{Kind: "kill-test", Actor: "alice", Data: audit.Data(map[string]int{"g": g, "i": i})}
				if g%4 == 0 {
					var got []audit.Event
					err := st.Update(ctx, func(tx mpa.Tx) error {
						got = got[:0]
						for range 2 {
							e, err := tx.AppendAudit(ev)
							if err != nil {
								return err
							}
							got = append(got, e)
						}
						return nil
					})
					if err == nil {
						report(got...)
					}
					continue
				}
				if e, err := seq.Record(ctx, ev); err == nil {
					report(e)
				}
			}
		}()
	}
	select {}
}

// Every append reported committed survives the process being killed
// (SIGKILL, at a different moment each round): reopened, the chain
// verifies and holds each with the hash reported, and appending goes on
// after its head.
func TestAppendsSurviveKill(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reported := map[uint64]string{}
	for round := range 4 {
		cmd := exec.Command(exe, "-test.run", "^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan audit.Head, 1024)
		readDone := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var h audit.Head
				if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
					readDone <- fmt.Errorf("child wrote %q: %v", sc.Text(), err)
					return
				}
				lines <- h
			}
			io.Copy(io.Discard, stdout)
			readDone <- sc.Err()
		}()
		// Kill it once it has reported a number of appends that differs
		// by round, so the kill lands at different moments.
		want := 50 + round*137
		deadline := time.After(60 * time.Second)
		n := 0
	collect:
		for {
			select {
			case h := <-lines:
				if prev, dup := reported[h.Seq]; dup && prev != h.Hash {
					t.Fatalf("round %d: seq %d reported with two hashes", round, h.Seq)
				}
				reported[h.Seq] = h.Hash
				if n++; n == want {
					cmd.Process.Kill() // the child this test started
					break collect
				}
			case <-deadline:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child reported %d appends within 60s; want %d", round, n, want)
			}
		}
		// What the child reported before it died counts too; its output
		// is read to the end before Wait closes the pipe.
	drain:
		for {
			select {
			case h := <-lines:
				reported[h.Seq] = h.Hash
			case err := <-readDone:
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				for {
					select {
					case h := <-lines:
						reported[h.Seq] = h.Hash
					default:
						cmd.Wait()
						break drain
					}
				}
			case <-time.After(20 * time.Second):
				cmd.Wait()
				t.Fatalf("round %d: child's output not closed within 20s of its kill", round)
			}
		}

		st := mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
		stored := map[uint64]string{}
		err = st.View(context.Background(), func(tx mpa.Tx) error {
			for e, err := range tx.AuditEvents(tx.AuditChain(), 1) {
				if err != nil {
					return err
				}
				stored[e.Seq] = e.Hash
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(st); err != nil {
			t.Fatalf("round %d: chain after kill: %v", round, err)
		}
		for seq, h := range reported {
			if stored[seq] != h {
				t.Fatalf("round %d: append %d reported committed (%.12s) but stored as %.12s after the kill", round, seq, h, stored[seq])
			}
		}
		e := appendOne(t, st, audit.Event{Kind: "after-kill", Actor: "alice"})
		if e.Seq != uint64(len(stored))+1 {
			t.Fatalf("round %d: append after reopen at seq %d; chain has %d", round, e.Seq, len(stored))
		}
		reported[e.Seq] = e.Hash
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// appendOne appends e in a transaction of its own and returns it as
// stored.
func appendOne(t *testing.T, st *badgerstore.Store, e audit.Event) audit.Event {
	t.Helper()
	var out audit.Event
	err := st.Update(context.Background(), func(tx mpa.Tx) error {
		var err error
		out, err = tx.AppendAudit(e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
