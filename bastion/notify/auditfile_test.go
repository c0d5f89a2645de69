package notify

import (
	"context"
	"fmt"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
)

// runAuditFile mirrors g's store to path until stop is called; heads
// receives the head after each batch.
func runAuditFile(t *testing.T, g *gate, path string) (heads <-chan audit.Head, stop func()) {
	t.Helper()
	m, err := audit.OpenMirror(path)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuditFile(m, g.Log)
	ch := make(chan audit.Head, 256)
	a.written = func(h audit.Head) { ch <- h }
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, g.Store) }()
	return ch, func() {
		cancel()
		if err := mpatest.Recv(t, done, "AuditFile.Run to end with its context"); err != nil && err != context.Canceled {
			t.Errorf("AuditFile.Run = %v", err)
		}
		m.Close()
	}
}

// storeHead is the store's last audit event.
func storeHead(t *testing.T, g *gate) audit.Head {
	t.Helper()
	var last audit.Head
	for e, err := range g.Svc.AuditEvents(g.ctx, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		last = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	return last
}

// waitHead waits until the mirror reports head want, failing t if it
// does not within mpatest.Bound.
func waitHead(t *testing.T, heads <-chan audit.Head, want audit.Head) {
	t.Helper()
	for {
		if h := mpatest.Recv(t, heads, fmt.Sprintf("the audit file to reach seq %d", want.Seq)); h == want {
			return
		}
	}
}

// The audit file holds the whole chain, written before the mirror started
// and as it goes, survives a restart without duplicates, and verifies.
func TestAuditFile(t *testing.T) {
	g := newGate(t) // registrations wrote events before any mirror ran
	path := filepath.Join(t.TempDir(), "audit.jsonl")

	heads, stop := runAuditFile(t, g, path)
	waitHead(t, heads, storeHead(t, g)) // caught up with the past
	r := g.create("kill -9 1")
	g.run(r.ID, 0)
	waitHead(t, heads, storeHead(t, g))
	stop()

	g.vote(g.create("kill -9 2").ID, "bob", false) // written while no mirror ran
	heads, stop = runAuditFile(t, g, path)
	want := storeHead(t, g)
	waitHead(t, heads, want)
	stop()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int
	var last audit.Event
	for e, err := range audit.ReadJSONL(f) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		last = e
	}
	if uint64(n) != want.Seq || last.Hash != want.Hash {
		t.Errorf("mirror holds %d events ending %d/%s; want %d ending %s", n, last.Seq, last.Hash, want.Seq, want.Hash)
	}
	f.Seek(0, 0)
	if err := audit.VerifyJSONL(f); err != nil {
		t.Errorf("VerifyJSONL(mirror) = %v", err)
	}
}
