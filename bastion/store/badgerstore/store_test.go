package badgerstore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/storetest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// mustOpen opens a store with opts, or fails the test. The caller
// closes it (some tests close and reopen on purpose).
func mustOpen(t *testing.T, opts badgerstore.Options) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestSecondOpenInUse(t *testing.T) {
	dir := t.TempDir()
	st := mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
	_, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: logger(t)})
	if !errors.Is(err, badgerstore.ErrInUse) {
		t.Fatalf("second open: %v; want ErrInUse", err)
	}
	want := "open store " + dir + ": already in use by another keyturn process"
	if err.Error() != want {
		t.Fatalf("second open error %q; want %q", err, want)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = badgerstore.Open(badgerstore.Options{Dir: dir, Logger: logger(t)})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	st.Close()
}

func put(t *testing.T, st *badgerstore.Store, r mpa.Request, ttl time.Duration) {
	t.Helper()
	err := st.Update(context.Background(), func(tx mpa.Tx) error { return tx.PutRequest(r, ttl) })
	if err != nil {
		t.Fatal(err)
	}
}

// A finished request is written with its retention as a Badger TTL; a live
// one has none.
func TestRetentionTTL(t *testing.T) {
	st := mustOpen(t, badgerstore.Options{InMemory: true, Logger: logger(t)})
	defer st.Close()
	life := mpa.DefaultLifecycle()
	put(t, st, mpa.Request{ID: "req-live", Status: mpa.StatusPending}, life.Retention(mpa.StatusPending))
	put(t, st, mpa.Request{ID: "req-done", Status: mpa.StatusCompleted}, life.Retention(mpa.StatusCompleted))
	err := st.DB().View(func(txn *badger.Txn) error {
		live, err := txn.Get([]byte("req/req-live"))
		if err != nil {
			return err
		}
		if live.ExpiresAt() != 0 {
			t.Errorf("pending request expires at %d; want no TTL", live.ExpiresAt())
		}
		done, err := txn.Get([]byte("req/req-done"))
		if err != nil {
			return err
		}
		want := time.Now().Add(30 * 24 * time.Hour).Unix()
		if got := int64(done.ExpiresAt()); got < want-60 || got > want+60 {
			t.Errorf("completed request expires at %d; want about %d (30 days)", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With a key, TOTP secrets are not on disk in the clear, and the dir does
// not open without the key.
func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	st := mustOpen(t, badgerstore.Options{Dir: dir, EncryptionKey: key, Logger: logger(t)})
	const secret = "SECRETSECRETSECRETSECRETSECRET23"
	err := st.Update(context.Background(), func(tx mpa.Tx) error {
		return tx.PutApprover(mpa.Approver{Name: "bob", Status: mpa.Registered, Secret: secret})
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the TOTP secret in the clear", p)
		}
		return nil
	})
	if _, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: logger(t)}); err == nil {
		t.Fatal("encrypted dir opened without the key")
	}
	st = mustOpen(t, badgerstore.Options{Dir: dir, EncryptionKey: key, Logger: logger(t)})
	defer st.Close()
	st.View(context.Background(), func(tx mpa.Tx) error {
		a, err := tx.GetApprover("bob")
		if err != nil || a.Secret != secret {
			t.Errorf("approver after reopen = %+v, %v", a, err)
		}
		return nil
	})
	if _, err := badgerstore.Open(badgerstore.Options{InMemory: true, EncryptionKey: []byte("short")}); err == nil ||
		!strings.Contains(err.Error(), "want 16, 24 or 32") {
		t.Fatalf("short key: %v", err)
	}
}

func TestChangesDriveByCommits(t *testing.T) {
	st := mustOpen(t, badgerstore.Options{InMemory: true, Logger: logger(t)})
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := st.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Aborted transactions publish nothing; committed ones do.
	st.Update(ctx, func(tx mpa.Tx) error {
		tx.PutRequest(mpa.Request{ID: "req-aborted", Status: mpa.StatusPending}, 0)
		return errors.New("abort")
	})
	put(t, st, mpa.Request{ID: "req-1", Status: mpa.StatusPending}, 0)
	select {
	case c := <-ch:
		if c.Kind != mpa.ChangeRequest || c.Request.ID != "req-1" {
			t.Fatalf("change %+v; want req-1", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change delivered")
	}
	cancel()
	closed := time.NewTimer(30 * time.Second)
	defer closed.Stop()
	for open := true; open; {
		select {
		case _, open = <-ch: // closed once ctx is done
		case <-closed.C:
			t.Fatal("Changes channel not closed 30s after its context was cancelled")
		}
	}
}

func appendEvents(t *testing.T, st *badgerstore.Store, n int) {
	t.Helper()
	for i := range n {
		err := st.Update(context.Background(), func(tx mpa.Tx) error {
			_, err := tx.AppendAudit(audit.Event{Time: time.Unix(int64(1700000000+i), 0),
				Kind: "test", Actor: "alice", Data: audit.Data(map[string]int{"i": i})})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func verify(st *badgerstore.Store) error {
	return st.View(context.Background(), func(tx mpa.Tx) error {
		_, err := storetest.VerifyChain(tx)
		return err
	})
}

func raw(t *testing.T, st *badgerstore.Store, seq uint64) []byte {
	t.Helper()
	var v []byte
	err := st.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get(badgerstore.AuditKey(seq))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func setRaw(t *testing.T, st *badgerstore.Store, key, value []byte) {
	t.Helper()
	err := st.DB().Update(func(txn *badger.Txn) error {
		if value == nil {
			return txn.Delete(key)
		}
		return txn.Set(key, value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Tampering with audit events directly in Badger is caught, and Verify
// names the first bad event and why.
func TestAuditTamper(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, st *badgerstore.Store)
		seq     uint64
		problem audit.Problem
	}{
		{"edit", func(t *testing.T, st *badgerstore.Store) {
			v := bytes.Replace(raw(t, st, 3), []byte(`"actor":"alice"`), []byte(`"actor":"mallory"`), 1)
			setRaw(t, st, badgerstore.AuditKey(3), v)
		}, 3, audit.Edited},
		{"delete", func(t *testing.T, st *badgerstore.Store) {
			setRaw(t, st, badgerstore.AuditKey(2), nil)
		}, 3, audit.Removed},
		{"reorder", func(t *testing.T, st *badgerstore.Store) {
			a, b := raw(t, st, 2), raw(t, st, 3)
			setRaw(t, st, badgerstore.AuditKey(2), b)
			setRaw(t, st, badgerstore.AuditKey(3), a)
		}, 3, audit.Reordered},
		{"truncate", func(t *testing.T, st *badgerstore.Store) {
			setRaw(t, st, badgerstore.AuditKey(5), nil)
		}, 5, audit.Truncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mustOpen(t, badgerstore.Options{InMemory: true, Logger: logger(t)})
			defer st.Close()
			appendEvents(t, st, 5)
			if err := verify(st); err != nil {
				t.Fatalf("untouched chain: %v", err)
			}
			tc.tamper(t, st)
			err := verify(st)
			var ce *audit.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("verify after %s = %v; want a ChainError", tc.name, err)
			}
			if ce.Seq != tc.seq || ce.Problem != tc.problem {
				t.Fatalf("verify after %s = %v; want event %d %s", tc.name, err, tc.seq, tc.problem)
			}
		})
	}
}

func TestAuditChainSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	st := mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
	appendEvents(t, st, 3)
	st.Close()
	st = mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
	defer st.Close()
	appendEvents(t, st, 2)
	if err := verify(st); err != nil {
		t.Fatalf("chain across reopen: %v", err)
	}
	var buf bytes.Buffer
	st.View(context.Background(), func(tx mpa.Tx) error {
		return audit.WriteJSONL(&buf, tx.AuditEvents(tx.AuditChain(), 1))
	})
	if n := strings.Count(buf.String(), "\n"); n != 5 {
		t.Fatalf("export has %d lines; want 5", n)
	}
	if err := audit.VerifyJSONL(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("VerifyJSONL: %v", err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	edited := lines[0] + strings.Replace(lines[1], "alice", "alicf", 1) + strings.Join(lines[2:], "")
	var ce *audit.ChainError
	if err := audit.VerifyJSONL(strings.NewReader(edited)); !errors.As(err, &ce) || ce.Seq != 2 || ce.Problem != audit.Edited {
		t.Fatalf("VerifyJSONL of an edited export = %v; want event 2 edited", err)
	}
}

// A store written before the live index existed gets it built at Open.
func TestLiveIndexBuiltAtOpen(t *testing.T) {
	dir := t.TempDir()
	st := mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
	put(t, st, mpa.Request{ID: "req-live", Status: mpa.StatusPending}, 0)
	put(t, st, mpa.Request{ID: "req-done", Status: mpa.StatusCompleted}, 0)
	// As an older keyturn left it: no index, no marker.
	setRaw(t, st, []byte("live/req-live"), nil)
	setRaw(t, st, []byte("meta/live-index"), nil)
	st.Close()
	st = mustOpen(t, badgerstore.Options{Dir: dir, Logger: logger(t)})
	defer st.Close()
	var ids []string
	err := st.View(context.Background(), func(tx mpa.Tx) error {
		for r, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil || strings.Join(ids, ",") != "req-live" {
		t.Fatalf("live after reopen = %v, %v; want req-live", ids, err)
	}
}
