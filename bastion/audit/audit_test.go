package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

func chain(t *testing.T, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	var head audit.Head
	for i := range n {
		e, err := audit.Seal(head, audit.Event{Time: time.Unix(1700000000, int64(i)).In(time.FixedZone("X", 3600)),
			Kind: "k", Actor: "alice", Data: []byte(`{ "i" : 1, "html": "<b>" }`)})
		if err != nil {
			t.Fatal(err)
		}
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
		out = append(out, e)
	}
	return out
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func([]audit.Event) []audit.Event
		seq     uint64
		problem audit.Problem
	}{
		{"intact", func(es []audit.Event) []audit.Event { return es }, 0, ""},
		{"edited", func(es []audit.Event) []audit.Event { es[1].Actor = "mallory"; return es }, 2, audit.Edited},
		{"edited and rehashed", func(es []audit.Event) []audit.Event {
			es[1].Actor = "mallory"
			es[1].Hash, _ = es[1].ComputeHash()
			return es
		}, 3, audit.BadPrev},
		{"removed", func(es []audit.Event) []audit.Event { return append(es[:1], es[2:]...) }, 3, audit.Removed},
		{"removed first", func(es []audit.Event) []audit.Event { return es[1:] }, 2, audit.Removed},
		{"swapped", func(es []audit.Event) []audit.Event { es[1], es[2] = es[2], es[1]; return es }, 3, audit.Reordered},
		{"moved back", func(es []audit.Event) []audit.Event {
			return []audit.Event{es[0], es[1], es[3], es[2]}
		}, 4, audit.Reordered},
		{"duplicated", func(es []audit.Event) []audit.Event { return append(es[:2], es[1:]...) }, 2, audit.Reordered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.Verify(audit.Slice(tc.mutate(chain(t, 4))))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Verify = %v; want nil", err)
				}
				return
			}
			var ce *audit.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.seq || ce.Problem != tc.problem {
				t.Fatalf("Verify = %v; want event %d %s", err, tc.seq, tc.problem)
			}
		})
	}
}

// The hash does not depend on the time zone of Time or the spacing of Data.
func TestHashCanonical(t *testing.T) {
	e := chain(t, 1)[0]
	f := e
	f.Time = f.Time.UTC()
	f.Data = []byte(`{"i":1,"html":"<b>"}`)
	if h, _ := f.ComputeHash(); h != e.Hash {
		t.Fatalf("hash changed with zone/spacing: %s vs %s", h, e.Hash)
	}
}
