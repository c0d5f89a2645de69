package audit

import (
	"errors"
	"fmt"
	"iter"
)

// ErrBroken is wrapped by every [*ChainError]: the chain does not verify.
var ErrBroken = errors.New("audit: chain is broken")

// Problem says how a chain is broken.
type Problem string

// The ways a chain breaks, as [ChainError.Problem] reports them.
const (
	// Edited: the event's content no longer matches its own hash.
	Edited Problem = "edited"
	// Removed: one or more events before this one are missing.
	Removed Problem = "removed"
	// Reordered: the event is not where its sequence number puts it.
	Reordered Problem = "reordered"
	// BadPrev: the event is intact but does not link to the event before it
	// (the one before was replaced with a re-hashed copy, or the chain was
	// spliced).
	BadPrev Problem = "bad prev"
	// Truncated: events after the last one are missing (reported by stores
	// that keep a head record, and by anchors in other chains; a bare
	// event stream cannot tell).
	Truncated Problem = "truncated"
	// AnchorMismatch: another chain anchored this one at an event whose
	// hash differs from the event now there: the chain was rewritten.
	AnchorMismatch Problem = "anchor mismatch"
	// WrongChain: the event names another chain than the one it is in.
	WrongChain Problem = "wrong chain"
)

// ChainError names the first bad event in a chain.
type ChainError struct {
	Chain   string  // the chain, empty for a single-chain trail
	Seq     uint64  // sequence number the bad event claims
	Index   int     // its position in the stream, from 0
	Problem Problem // what is wrong with it
	Detail  string
}

func (e *ChainError) Error() string {
	if e.Chain != "" {
		return fmt.Sprintf("audit: chain %s: event %d (position %d): %s: %s", e.Chain, e.Seq, e.Index, e.Problem, e.Detail)
	}
	return fmt.Sprintf("audit: event %d (position %d): %s: %s", e.Seq, e.Index, e.Problem, e.Detail)
}

// Unwrap returns [ErrBroken].
func (e *ChainError) Unwrap() error { return ErrBroken }

// Verify walks events in the order given and returns a [*ChainError] for
// the first event that is edited, missing a predecessor, out of order or
// badly linked, or the error the iterator yielded.
func Verify(events iter.Seq2[Event, error]) error {
	_, err := VerifyHead(events)
	return err
}

// VerifyHead is [Verify] that also returns the head of the verified part
// of the chain, so a store can compare it with its own head record (see
// [CheckHead]).
func VerifyHead(events iter.Seq2[Event, error]) (Head, error) {
	next, stop := iter.Pull2(events)
	defer stop()

	var head Head
	index := 0
	var pending *Event // an event read ahead to tell a gap from a swap
	read := func() (Event, bool, error) {
		if pending != nil {
			e := *pending
			pending = nil
			return e, true, nil
		}
		e, err, ok := next()
		return e, ok, err
	}
	for ; ; index++ {
		e, ok, err := read()
		if err != nil {
			return head, fmt.Errorf("audit: read event at position %d: %w", index, err)
		}
		if !ok {
			return head, nil
		}
		want := head.Seq + 1
		h, err := e.ComputeHash()
		if err != nil {
			return head, &ChainError{Seq: e.Seq, Index: index, Problem: Edited, Detail: err.Error()}
		}
		if h != e.Hash {
			return head, &ChainError{Seq: e.Seq, Index: index, Problem: Edited,
				Detail: fmt.Sprintf("content hashes to %.12s, event says %.12s", h, e.Hash)}
		}
		switch {
		case e.Seq < want:
			return head, &ChainError{Seq: e.Seq, Index: index, Problem: Reordered,
				Detail: fmt.Sprintf("seq %d after seq %d", e.Seq, head.Seq)}
		case e.Seq > want:
			// Look one ahead: if the missing event comes next, this one
			// was moved; otherwise events were removed.
			la, ok, err := read()
			if err == nil && ok {
				pending = &la
				if la.Seq == want {
					return head, &ChainError{Seq: e.Seq, Index: index, Problem: Reordered,
						Detail: fmt.Sprintf("seq %d comes before seq %d", e.Seq, want)}
				}
			}
			return head, &ChainError{Seq: e.Seq, Index: index, Problem: Removed,
				Detail: fmt.Sprintf("expected seq %d; events %d..%d are missing", want, want, e.Seq-1)}
		case e.Prev != head.Hash:
			return head, &ChainError{Seq: e.Seq, Index: index, Problem: BadPrev,
				Detail: fmt.Sprintf("prev %.12s does not match hash %.12s of event %d", e.Prev, head.Hash, head.Seq)}
		}
		head = Head{Seq: e.Seq, Hash: e.Hash}
	}
}

// CheckHead reports a [Truncated] chain when a verified chain ends before
// the head a store recorded.
func CheckHead(verified, recorded Head) error {
	if verified == recorded {
		return nil
	}
	if verified.Seq < recorded.Seq {
		return &ChainError{Seq: verified.Seq + 1, Index: int(verified.Seq), Problem: Truncated,
			Detail: fmt.Sprintf("chain ends at seq %d but the store's head is seq %d", verified.Seq, recorded.Seq)}
	}
	return &ChainError{Seq: recorded.Seq, Index: int(recorded.Seq) - 1, Problem: BadPrev,
		Detail: fmt.Sprintf("chain ends at seq %d hash %.12s, store's head is seq %d hash %.12s",
			verified.Seq, verified.Hash, recorded.Seq, recorded.Hash)}
}

// Slice adapts a slice of events to the iterator [Verify] takes.
func Slice(events []Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}
