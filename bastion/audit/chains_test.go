package audit_test

import (
	"errors"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// trail builds chains a, b and c as three gates would: each appends one
// event per round, and every third round each anchors the others' heads.
// It returns the events in the order they were written.
func trail(t *testing.T, rounds int) []audit.Event { return trailWith(t, rounds, -1) }

// trailWith is trail, with chain b's history rewritten (from seq 2, all
// re-sealed) after round rewriteAt: the chains go on from the rewritten
// chain, and only the anchors taken before the rewrite disagree with it.
func trailWith(t *testing.T, rounds, rewriteAt int) []audit.Event {
	t.Helper()
	names := []string{"a", "b", "c"}
	heads := map[string]audit.Head{}
	var out []audit.Event
	clock := time.Unix(1700000000, 0)
	add := func(e audit.Event) {
		clock = clock.Add(time.Millisecond)
		e.Time = clock
		s, err := audit.Seal(heads[e.Chain], e)
		if err != nil {
			t.Fatal(err)
		}
		heads[e.Chain] = audit.Head{Seq: s.Seq, Hash: s.Hash}
		out = append(out, s)
	}
	for r := range rounds {
		for _, n := range names {
			add(audit.Event{Chain: n, Kind: "k", Actor: n, Data: audit.Data(map[string]int{"r": r})})
		}
		if r == rewriteAt {
			heads["b"] = rewriteB(t, out)
		}
		if r%3 == 2 {
			for _, n := range names {
				others := maps.Clone(heads)
				delete(others, n)
				add(audit.Event{Chain: n, Kind: audit.KindAnchor, Data: audit.Data(audit.AnchorData{Chains: others})})
			}
		}
	}
	return out
}

// rewriteB rewrites chain b in events from seq 2 on (seq 2's actor
// becomes mallory), re-sealing each event so that b verifies on its own,
// and returns b's new head.
func rewriteB(t *testing.T, events []audit.Event) audit.Head {
	t.Helper()
	var head audit.Head
	for i, e := range events {
		if e.Chain != "b" {
			continue
		}
		if e.Seq == 2 {
			e.Actor = "mallory"
		}
		if e.Seq >= 2 {
			s, err := audit.Seal(head, e)
			if err != nil {
				t.Fatal(err)
			}
			events[i], e = s, s
		}
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	return head
}

func verifyTrail(t *testing.T, events []audit.Event) (map[string]audit.Head, error) {
	t.Helper()
	src, err := audit.ReadChains(audit.Slice(events))
	if err != nil {
		t.Fatal(err)
	}
	return audit.VerifyChains(src)
}

func wantChainError(t *testing.T, err error, chain string, problem audit.Problem) {
	t.Helper()
	var ce *audit.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v; want a chain error (%s in chain %s)", err, problem, chain)
	}
	if ce.Chain != chain || ce.Problem != problem {
		t.Fatalf("chain %q problem %q (%v); want chain %q problem %q", ce.Chain, ce.Problem, err, chain, problem)
	}
}

func TestChainsIntact(t *testing.T) {
	heads, err := verifyTrail(t, trail(t, 9))
	if err != nil {
		t.Fatal(err)
	}
	// 9 events and 3 anchors each.
	for _, n := range []string{"a", "b", "c"} {
		if heads[n].Seq != 12 {
			t.Errorf("chain %s head %d; want 12", n, heads[n].Seq)
		}
	}
}

// Cutting one chain's tail below what another chain anchored is caught,
// though the cut chain verifies on its own.
func TestChainsOneTruncated(t *testing.T) {
	events := trail(t, 9)
	// Chain b's last 3 events: its anchor and the round before it, which
	// a and c anchored.
	var kept []audit.Event
	for _, e := range events {
		if e.Chain == "b" && e.Seq > 9 {
			continue
		}
		kept = append(kept, e)
	}
	_, err := verifyTrail(t, kept)
	wantChainError(t, err, "b", audit.Truncated)
}

// Cutting only what no anchor covers yet is caught by the store's head
// records (the window an export alone cannot see).
func TestChainsTailTruncatedHeads(t *testing.T) {
	events := trail(t, 10) // round 9 is after the last anchors
	recorded := map[string]audit.Head{}
	var kept []audit.Event
	for _, e := range events {
		recorded[e.Chain] = audit.Head{Seq: e.Seq, Hash: e.Hash}
		if e.Chain == "c" && e.Seq == 13 {
			continue
		}
		kept = append(kept, e)
	}
	if _, err := verifyTrail(t, kept); err != nil {
		t.Fatalf("an export without its last unanchored event should verify (nothing tells): %v", err)
	}
	src, _ := audit.ReadChains(audit.Slice(kept))
	_, err := audit.VerifyChains(withHeads{src, recorded})
	wantChainError(t, err, "c", audit.Truncated)
}

// Rewriting one chain from an event on, re-sealed so that it verifies on
// its own, is caught by the other chains' anchors.
func TestChainsOneRewritten(t *testing.T) {
	events := trail(t, 9)
	rewriteB(t, events)
	if _, _, err := func() (audit.Head, int, error) {
		var b []audit.Event
		for _, e := range events {
			if e.Chain == "b" {
				b = append(b, e)
			}
		}
		h, err := audit.VerifyHead(audit.Slice(b))
		return h, len(b), err
	}(); err != nil {
		t.Fatalf("rewritten chain b should verify on its own: %v", err)
	}
	_, err := verifyTrail(t, events)
	wantChainError(t, err, "b", audit.AnchorMismatch)
}

// A chain rewritten while the gates ran, later anchors taken of the
// rewritten chain: the anchors from before the rewrite still catch it.
func TestChainsRewrittenBetweenAnchors(t *testing.T) {
	if _, err := verifyTrail(t, trailWith(t, 12, -1)); err != nil {
		t.Fatal(err)
	}
	_, err := verifyTrail(t, trailWith(t, 12, 4))
	wantChainError(t, err, "b", audit.AnchorMismatch)
}

// Removing a whole chain is caught by the anchors naming it.
func TestChainsOneRemoved(t *testing.T) {
	var kept []audit.Event
	for _, e := range trail(t, 6) {
		if e.Chain != "a" {
			kept = append(kept, e)
		}
	}
	_, err := verifyTrail(t, kept)
	wantChainError(t, err, "a", audit.Truncated)
}

// An event moved to another chain: relabelled, its hash breaks; left
// labelled, it is not of the chain it sits in.
func TestChainsEventMoved(t *testing.T) {
	events := trail(t, 3)
	moved := slices.Clone(events)
	for i, e := range moved {
		if e.Chain == "b" && e.Seq == 2 {
			moved[i].Chain = "a"
		}
	}
	_, err := verifyTrail(t, moved)
	wantChainError(t, err, "a", audit.Edited)

	src, _ := audit.ReadChains(audit.Slice(events))
	_, err = audit.VerifyChains(swapped{src})
	wantChainError(t, err, "a", audit.WrongChain)
}

// An export keeps the chains apart: interleaved by time, each chain in
// its order, it verifies from its JSON Lines.
func TestChainsMergeAndExport(t *testing.T) {
	events := trail(t, 6)
	byChain := map[string][]audit.Event{}
	for _, e := range events {
		byChain[e.Chain] = append(byChain[e.Chain], e)
	}
	// A clock that went back on one gate: its chain's order still wins.
	byChain["c"][2].Time = byChain["c"][2].Time.Add(-time.Hour)
	chains := map[string]iter.Seq2[audit.Event, error]{}
	for n, es := range byChain {
		chains[n] = audit.Slice(es)
	}
	var merged []audit.Event
	for e, err := range audit.Merge(chains) {
		if err != nil {
			t.Fatal(err)
		}
		merged = append(merged, e)
	}
	if len(merged) != len(events) {
		t.Fatalf("merged %d events; want %d", len(merged), len(events))
	}
	last := map[string]uint64{}
	for _, e := range merged {
		if e.Seq != last[e.Chain]+1 {
			t.Fatalf("chain %s: seq %d after %d", e.Chain, e.Seq, last[e.Chain])
		}
		last[e.Chain] = e.Seq
	}
	var buf strings.Builder
	if err := audit.WriteJSONL(&buf, audit.Slice(events)); err != nil {
		t.Fatal(err)
	}
	src, err := audit.ReadChains(audit.ReadJSONL(strings.NewReader(buf.String())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyChains(src); err != nil {
		t.Fatalf("export: %v", err)
	}
}

// A chain's name is hashed: two gates' identical events differ.
func TestChainHashed(t *testing.T) {
	e := audit.Event{Time: time.Unix(1700000000, 0), Kind: "k"}
	a, _ := audit.Seal(audit.Head{}, e)
	e.Chain = "a"
	b, _ := audit.Seal(audit.Head{}, e)
	if a.Hash == b.Hash {
		t.Fatal("chain name not in the hash")
	}
}

// withHeads adds recorded heads to a source, as a store has.
type withHeads struct {
	audit.ChainSource
	heads map[string]audit.Head
}

func (w withHeads) Heads() (map[string]audit.Head, error) { return w.heads, nil }

// swapped serves chain b's events as chain a's too (a store whose keys
// were copied across chains).
type swapped struct{ audit.ChainSource }

func (s swapped) Heads() (map[string]audit.Head, error) {
	return map[string]audit.Head{"a": {}}, nil
}

func (s swapped) Events(chain string, from uint64) iter.Seq2[audit.Event, error] {
	return s.ChainSource.Events("b", from)
}
