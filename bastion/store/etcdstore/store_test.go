package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func raw(t *testing.T, st *Store, key string) []byte {
	t.Helper()
	resp, err := st.cli.Get(ctxT(t), st.prefix+key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0].Value
}

func setRaw(t *testing.T, st *Store, key string, v []byte) {
	t.Helper()
	if _, err := st.cli.Put(ctxT(t), st.prefix+key, string(v)); err != nil {
		t.Fatal(err)
	}
}

const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// TOTP secrets never reach etcd in the clear; a sealed secret moved to
// another approver, a plaintext one written behind the gate's back, and
// one read with another key are all refused.
func TestSecretsSealed(t *testing.T) {
	prefix := freshPrefix()
	st := openOn(t, prefix, Options{})
	err := st.Update(ctxT(t), func(tx mpa.Tx) error {
		if err := tx.PutApprover(mpa.Approver{Name: "bob", Status: mpa.Registered, Secret: secret}); err != nil {
			return err
		}
		return tx.PutApprover(mpa.Approver{Name: "carol", Status: mpa.RegistrationInitiated, PendingSecret: secret})
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.cli.Get(ctxT(t), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Value), secret) {
			t.Errorf("%s holds the TOTP secret in the clear", kv.Key)
		}
	}
	getBob := func(st *Store) (mpa.Approver, error) {
		var a mpa.Approver
		err := st.View(ctxT(t), func(tx mpa.Tx) error {
			var err error
			a, err = tx.GetApprover("bob")
			return err
		})
		return a, err
	}
	if a, err := getBob(st); err != nil || a.Secret != secret {
		t.Fatalf("bob read back = %q, %v", a.Secret, err)
	}
	other := openOn(t, prefix, Options{SecretKey: []byte("another key of thirty-two bytes!")})
	if _, err := getBob(other); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("bob read with another key: %v; want refused", err)
	}
	// carol's sealed pending secret pasted into bob's record.
	bob, carol := string(raw(t, st, "apr/bob")), string(raw(t, st, "apr/carol"))
	sealedCarol := carol[strings.Index(carol, sealedPrefix):]
	sealedCarol = sealedCarol[:strings.Index(sealedCarol, `"`)]
	sealedBob := bob[strings.Index(bob, sealedPrefix):]
	sealedBob = sealedBob[:strings.Index(sealedBob, `"`)]
	setRaw(t, st, "apr/bob", []byte(strings.Replace(bob, sealedBob, sealedCarol, 1)))
	if _, err := getBob(st); err == nil {
		t.Fatal("a secret sealed for carol opened as bob's")
	}
	setRaw(t, st, "apr/bob", []byte(`{"name":"bob","status":"registered","secret":"`+secret+`"}`))
	if _, err := getBob(st); err == nil || !strings.Contains(err.Error(), "in the clear") {
		t.Fatalf("plaintext secret: %v; want refused", err)
	}
	for _, key := range [][]byte{nil, []byte("short")} {
		if _, err := Open(Options{Client: newClient(t), Prefix: prefix, SecretKey: key}); err == nil {
			t.Errorf("Open with secret key %q succeeded; want refused", key)
		}
	}
	if _, err := Open(Options{Client: newClient(t), Prefix: "no-slash", SecretKey: testKey()}); err == nil {
		t.Error("Open with a prefix not ending in / succeeded")
	}
}

// Over etcd's limits a transaction fails before it is sent, naming the
// limit.
func TestLimits(t *testing.T) {
	st := openOn(t, freshPrefix(), Options{MaxTxnOps: 8, MaxRequestBytes: 64 << 10})
	err := st.Update(ctxT(t), func(tx mpa.Tx) error {
		for i := range 9 {
			if err := tx.PutRequest(mpa.Request{ID: fmt.Sprint("req-", i), Status: mpa.StatusPending}, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max-txn-ops") {
		t.Fatalf("9 writes with a limit of 8: %v", err)
	}
	err = st.Update(ctxT(t), func(tx mpa.Tx) error {
		return tx.PutRequest(mpa.Request{ID: "req-big", Status: mpa.StatusPending, Command: strings.Repeat("x", 70<<10)}, 0)
	})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max-request-bytes") {
		t.Fatalf("70 KiB with a limit of 64 KiB: %v", err)
	}
}

// A transaction that read more keys than one Txn may compare is still
// checked: its compares fold into one over the store, which a concurrent
// write anywhere fails.
func TestManyReadsFold(t *testing.T) {
	prefix := freshPrefix()
	st := openOn(t, prefix, Options{MaxTxnOps: 8})
	other := openOn(t, prefix, Options{MaxTxnOps: 8})
	err := st.Update(ctxT(t), func(tx mpa.Tx) error {
		for i := range 8 {
			if err := tx.PutApprover(mpa.Approver{Name: fmt.Sprint("a", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	err = st.Update(ctxT(t), func(tx mpa.Tx) error {
		runs++
		for i := range 8 {
			if _, err := tx.GetApprover(fmt.Sprint("a", i)); err != nil {
				return err
			}
		}
		if _, err := tx.GetApprover("nobody"); !errors.Is(err, mpa.ErrNotFound) {
			return err
		}
		if runs == 1 {
			err := other.Update(ctxT(t), func(tx mpa.Tx) error {
				return tx.PutApprover(mpa.Approver{Name: "a3", Failures: 1})
			})
			if err != nil {
				return err
			}
		}
		return tx.PutSettings(mpa.Settings{UpdatedBy: fmt.Sprint("run ", runs)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("ran %d times; the folded compare should have caught the concurrent write", runs)
	}
}

// The sweep deletes a request past its retention and bumps the deletion
// marker, so a scan that started before the delete conflicts with it.
func TestSweepDeletes(t *testing.T) {
	prefix := freshPrefix()
	clock := mpatest.NewClock(time.Now())
	st := openOn(t, prefix, Options{Now: clock.Now, SweepEvery: time.Hour})
	err := st.Update(ctxT(t), func(tx mpa.Tx) error {
		return tx.PutRequest(mpa.Request{ID: "req-done", Status: mpa.StatusCompleted}, time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.Sweep(ctxT(t)); err != nil || n != 0 {
		t.Fatalf("sweep before expiry deleted %d, %v", n, err)
	}
	clock.Advance(2 * time.Hour)
	runs := 0
	err = st.Update(ctxT(t), func(tx mpa.Tx) error {
		runs++
		for _, err := range tx.Requests() {
			if err != nil {
				return err
			}
		}
		if runs == 1 {
			if n, err := st.Sweep(ctxT(t)); err != nil || n != 1 {
				return fmt.Errorf("sweep after expiry deleted %d, %v; want 1", n, err)
			}
		}
		return tx.PutSettings(mpa.Settings{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("scan ran %d times; a delete under it should have conflicted", runs)
	}
	if v := raw(t, st, "req/req-done"); v != nil {
		t.Fatalf("swept request still stored: %s", v)
	}
}

// A leader whose lease is lost cannot commit a fenced transaction, even
// before it notices.
func TestFenceAfterLeaseLoss(t *testing.T) {
	prefix := freshPrefix()
	st := openOn(t, prefix, Options{})
	l, err := st.Campaign(ctxT(t), "expiry", "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	lease := l.(*leadership).sess.Lease()
	if _, err := newClient(t).Revoke(ctxT(t), lease); err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctxT(t), func(tx mpa.Tx) error {
		if err := l.Fence(tx); err != nil {
			return err
		}
		return tx.PutSettings(mpa.Settings{UpdatedBy: "stale leader"})
	})
	if !errors.Is(err, mpa.ErrNotLeader) {
		t.Fatalf("fenced write after lease loss: %v; want ErrNotLeader", err)
	}
	if v := raw(t, st, kSettings); v != nil {
		t.Fatalf("stale leader's write committed: %s", v)
	}
	other := openOn(t, prefix, Options{})
	l2, err := other.Campaign(ctxT(t), "expiry", "gate-b")
	if err != nil {
		t.Fatalf("gate-b campaign after gate-a's lease was lost: %v", err)
	}
	l2.Resign(ctxT(t))
}
