package audit

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
)

// Several gates sharing one store each append to their own chain (named
// by the gate's gate_id), so that they never wait on one another's head.
// Separate chains alone would let whoever holds the store cut or rewrite
// one gate's chain and leave the others intact; anchors tie them
// together. Every so often, and when it starts, each gate appends a
// [KindAnchor] event to its own chain recording the head (seq and hash) of
// every other chain it sees. A chain only grows, so any head it once had
// stays a true statement about it: an anchor never conflicts with the
// chains it names, and is checked later by [VerifyChains]:
//
//   - the anchored event must still be there (else the chain was
//     truncated, or removed entirely), and
//   - it must still have the anchored hash (else the chain was rewritten
//     up to at least that point).
//
// A rewrite of one chain therefore has to rewrite every chain that
// anchored it after the rewritten point, and every chain that anchored
// those, which with gates anchoring each other every second is all of
// them. What no anchor covers yet (the last events of each chain, about
// one anchor period) is protected as a single chain is: by the store's
// head record, and for an export by comparing the heads with the gate's.

// AnchorData is the data of a [KindAnchor] event: the heads of the other
// chains, by chain name.
type AnchorData struct {
	Chains map[string]Head `json:"chains"`
}

// ChainSource is a trail of one or more chains for [VerifyChains].
type ChainSource interface {
	// Heads returns each chain's recorded head (a store's head records).
	// A source without head records (an export) returns nil, and the
	// chains are the ones its events name.
	Heads() (map[string]Head, error)
	// Events yields chain's events from seq from on, in chain order.
	Events(chain string, from uint64) iter.Seq2[Event, error]
}

// anchorClaim is one head that an anchor recorded.
type anchorClaim struct {
	by    string // the anchoring chain
	bySeq uint64 // the anchor event's seq
	chain string // the anchored chain
	head  Head
}

// VerifyChains verifies every chain of src on its own (as [VerifyHead],
// each ending at its recorded head when src has head records), then every
// anchor against the chain it names. It returns the verified heads, and a
// [*ChainError] naming the chain and event of the first problem: an
// event edited, removed, moved or badly linked in any chain; a chain
// shorter than its head record or than another chain's anchor says
// (truncated); an anchored event whose hash changed (rewritten).
func VerifyChains(src ChainSource) (map[string]Head, error) {
	recorded, err := src.Heads()
	if err != nil {
		return nil, fmt.Errorf("audit: read chain heads: %w", err)
	}
	names := slices.Sorted(maps.Keys(recorded))
	if recorded == nil {
		if ms, ok := src.(*memSource); ok {
			names = slices.Sorted(maps.Keys(ms.chains))
		}
	}
	verified := map[string]Head{}
	var claims []anchorClaim
	for _, name := range names {
		h, cl, err := verifyOne(name, src.Events(name, 1))
		if err != nil {
			return verified, err
		}
		if recorded != nil {
			if err := CheckHead(h, recorded[name]); err != nil {
				var ce *ChainError
				if errors.As(err, &ce) {
					ce.Chain = name
				}
				return verified, err
			}
		}
		verified[name] = h
		claims = append(claims, cl...)
	}
	// Each anchored chain is read once more, from its first anchored
	// event on, checking every anchored event on the way: anchors come
	// every second, so one read per anchor would be millions of reads.
	byChain := map[string][]anchorClaim{}
	for _, c := range claims {
		if c.head.Seq > 0 { // anchored empty: nothing to check
			byChain[c.chain] = append(byChain[c.chain], c)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byChain)) {
		cl := byChain[name]
		slices.SortStableFunc(cl, func(a, b anchorClaim) int { return cmp.Compare(a.head.Seq, b.head.Seq) })
		if err := checkClaims(src, name, verified, cl); err != nil {
			return verified, err
		}
	}
	return verified, nil
}

// verifyOne verifies one chain and collects its anchors' claims.
func verifyOne(name string, events iter.Seq2[Event, error]) (Head, []anchorClaim, error) {
	var claims []anchorClaim
	var bad error
	index := 0
	checked := func(yield func(Event, error) bool) {
		for e, err := range events {
			if err == nil && e.Chain != name {
				bad = &ChainError{Chain: name, Seq: e.Seq, Index: index, Problem: WrongChain,
					Detail: fmt.Sprintf("event of chain %q in chain %q", e.Chain, name)}
				return
			}
			if err == nil && e.Kind == KindAnchor {
				var d AnchorData
				if jerr := json.Unmarshal(e.Data, &d); jerr != nil {
					bad = &ChainError{Chain: name, Seq: e.Seq, Index: index, Problem: Edited,
						Detail: fmt.Sprintf("anchor data: %v", jerr)}
					return
				}
				for _, c := range slices.Sorted(maps.Keys(d.Chains)) {
					claims = append(claims, anchorClaim{by: name, bySeq: e.Seq, chain: c, head: d.Chains[c]})
				}
			}
			index++
			if !yield(e, err) {
				return
			}
		}
	}
	h, err := VerifyHead(checked)
	var ce *ChainError
	if errors.As(err, &ce) {
		ce.Chain = name
	}
	if err == nil && bad != nil {
		return h, nil, bad
	}
	// An error inside the chain comes first: the claims after it were
	// never verified themselves.
	if err != nil {
		return h, nil, err
	}
	return h, claims, nil
}

// checkClaims checks, reading chain once, that every event anchors
// recorded of it (claims, by seq) is still there with the anchored hash.
func checkClaims(src ChainSource, chain string, verified map[string]Head, claims []anchorClaim) error {
	what := func(c anchorClaim) string {
		return fmt.Sprintf("chain %s's event %d anchored it at seq %d", c.by, c.bySeq, c.head.Seq)
	}
	got, ok := verified[chain]
	if last := claims[len(claims)-1]; !ok || got.Seq < last.head.Seq {
		// The first claim past the chain's end names the cut.
		i, _ := slices.BinarySearchFunc(claims, got.Seq+1, func(c anchorClaim, seq uint64) int { return cmp.Compare(c.head.Seq, seq) })
		return &ChainError{Chain: chain, Seq: got.Seq + 1, Index: int(got.Seq), Problem: Truncated,
			Detail: fmt.Sprintf("chain ends at seq %d but %s", got.Seq, what(claims[i]))}
	}
	for e, err := range src.Events(chain, claims[0].head.Seq) {
		if err != nil {
			return fmt.Errorf("audit: read chain %s from seq %d: %w", chain, claims[0].head.Seq, err)
		}
		for len(claims) > 0 && claims[0].head.Seq == e.Seq {
			if c := claims[0]; e.Hash != c.head.Hash {
				return &ChainError{Chain: chain, Seq: e.Seq, Index: int(e.Seq) - 1, Problem: AnchorMismatch,
					Detail: fmt.Sprintf("event has hash %.12s but %s with hash %.12s", e.Hash, what(c), c.head.Hash)}
			}
			claims = claims[1:]
		}
		if len(claims) == 0 {
			return nil
		}
	}
	// The chain verified up to its head, which is past every claim: an
	// event missing here was removed while this ran.
	c := claims[0]
	return &ChainError{Chain: chain, Seq: c.head.Seq, Index: int(c.head.Seq) - 1, Problem: Truncated,
		Detail: fmt.Sprintf("no event at seq %d but %s", c.head.Seq, what(c))}
}

// memSource is a trail read whole into memory, by chain (an export).
type memSource struct {
	chains map[string][]Event
}

func (m *memSource) Heads() (map[string]Head, error) { return nil, nil }

func (m *memSource) Events(chain string, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		evs := m.chains[chain]
		i := 0
		if from > 1 {
			// In an intact chain event from is at index from-1; look for
			// it anywhere otherwise, and yield nothing without it.
			if from-1 < uint64(len(evs)) && evs[from-1].Seq == from {
				i = int(from - 1)
			} else {
				i = slices.IndexFunc(evs, func(e Event) bool { return e.Seq == from })
			}
			if i < 0 {
				return
			}
		}
		for _, e := range evs[i:] {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// ReadChains reads a trail (an export of one or more chains, in any
// interleaving that keeps each chain's order) into memory, by the chain
// each event names, for [VerifyChains].
func ReadChains(events iter.Seq2[Event, error]) (ChainSource, error) {
	m := &memSource{chains: map[string][]Event{}}
	for e, err := range events {
		if err != nil {
			return nil, err
		}
		m.chains[e.Chain] = append(m.chains[e.Chain], e)
	}
	return m, nil
}

// Merge interleaves chains, each already in chain order, into one stream
// by event time (ties by chain name), keeping each chain's own order: the
// order to list a multi-chain trail in, and one an export can be verified
// from.
func Merge(chains map[string]iter.Seq2[Event, error]) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		type cursor struct {
			name string
			next func() (Event, error, bool)
			stop func()
			e    Event
		}
		var cs []*cursor
		defer func() {
			for _, c := range cs {
				c.stop()
			}
		}()
		for _, name := range slices.Sorted(maps.Keys(chains)) {
			next, stop := iter.Pull2(chains[name])
			c := &cursor{name: name, next: next, stop: stop}
			e, err, ok := next()
			if err != nil {
				yield(Event{}, err)
				return
			}
			if ok {
				c.e = e
				cs = append(cs, c)
			} else {
				stop()
			}
		}
		for len(cs) > 0 {
			best := 0
			for i, c := range cs[1:] {
				b := cs[best]
				if d := c.e.Time.Compare(b.e.Time); d < 0 || d == 0 && cmp.Less(c.name, b.name) {
					best = i + 1
				}
			}
			c := cs[best]
			if !yield(c.e, nil) {
				return
			}
			e, err, ok := c.next()
			if err != nil {
				yield(Event{}, err)
				return
			}
			if ok {
				c.e = e
				continue
			}
			c.stop()
			cs = slices.Delete(cs, best, best+1)
		}
	}
}

// HeadLines describes verified heads for a person, one line per chain,
// each starting "audit chain ok": for the one chain of a single gate
// "audit chain ok: N events, head seq N hash H"; for named chains
// "audit chain ok: chain NAME: N events, head seq N hash H". A trail with
// no events is one line for the empty chain.
func HeadLines(heads map[string]Head) []string {
	if len(heads) == 0 {
		heads = map[string]Head{"": {}}
	}
	var lines []string
	for _, name := range slices.Sorted(maps.Keys(heads)) {
		h := heads[name]
		hash := h.Hash
		if hash == "" {
			hash = "-"
		}
		chain := ""
		if name != "" {
			chain = "chain " + name + ": "
		}
		lines = append(lines, fmt.Sprintf("audit chain ok: %s%d events, head seq %d hash %s", chain, h.Seq, h.Seq, hash))
	}
	return lines
}
