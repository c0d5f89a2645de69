package etcdstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// Kept output reads back byte for byte, is gone for readers once past its
// retention, and the sweep deletes it with its request.
func TestOutputRetention(t *testing.T) {
	prefix := freshPrefix()
	clock := mpatest.NewClock(time.Now())
	st := openOn(t, prefix, Options{Now: clock.Now, SweepEvery: time.Hour})
	record := bytes.Repeat([]byte("out\x00\xff"), 200_000) // 1 MB, binary
	err := st.Update(ctxT(t), func(tx mpa.Tx) error {
		if err := tx.PutRequest(mpa.Request{ID: "req-out", Status: mpa.StatusCompleted}, time.Hour); err != nil {
			return err
		}
		return tx.(mpa.OutputTx).PutOutput("req-out", record, time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func() ([]byte, error) {
		var got []byte
		err := st.View(ctxT(t), func(tx mpa.Tx) error {
			var err error
			got, err = tx.(mpa.OutputTx).GetOutput("req-out")
			return err
		})
		return got, err
	}
	if got, err := read(); err != nil || !bytes.Equal(got, record) {
		t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(record))
	}
	if _, err := read(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := read(); !errors.Is(err, mpa.ErrNotFound) {
		t.Fatalf("output past its retention: %v; want ErrNotFound", err)
	}
	if v := raw(t, st, "out/req-out"); v == nil {
		t.Fatal("output gone before the sweep; the test would not show the sweep deletes it")
	}
	if n, err := st.Sweep(ctxT(t)); err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, %v; want 1", n, err)
	}
	if v := raw(t, st, "out/req-out"); v != nil {
		t.Fatalf("swept request's output still stored: %d bytes", len(v))
	}
}
