package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one entry in an audit chain.
//
// Chain names the chain the event belongs to: empty for a store with one
// chain (a single gate on Badger), the gate_id on a store that several
// gates share (each gate appends to its own chain, see [AnchorData]).
// Seq starts at 1 and grows by one per event of the chain. Prev is the
// Hash of the event with Seq-1 in the same chain (empty for the first
// event). Hash is the hex SHA-256 of the event's canonical encoding (see
// [Event.ComputeHash]), which includes Chain when it is set: an event
// moved to another chain does not verify there.
type Event struct {
	Chain   string          `json:"chain,omitempty"`
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	Actor   string          `json:"actor,omitempty"`
	Request string          `json:"request,omitempty"`
	Target  string          `json:"target,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Prev    string          `json:"prev"`
	Hash    string          `json:"hash"`
}

// canonical is the hashed form of an event: fixed field order, time in UTC
// with nanoseconds, data compacted, no Hash. An auditor re-implementing the
// check in another language needs exactly this JSON (no HTML escaping, no
// trailing newline). "chain" is left out when empty, so a single-chain
// trail hashes as it did before chains had names.
type canonical struct {
	Chain   string          `json:"chain,omitempty"`
	Seq     uint64          `json:"seq"`
	Time    string          `json:"time"`
	Kind    string          `json:"kind"`
	Actor   string          `json:"actor"`
	Request string          `json:"request"`
	Target  string          `json:"target"`
	Data    json.RawMessage `json:"data"`
	Prev    string          `json:"prev"`
}

// ComputeHash returns the hex SHA-256 of e's canonical encoding, ignoring
// e.Hash.
func (e Event) ComputeHash() (string, error) {
	b, err := e.canonicalBytes()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func (e Event) canonicalBytes() ([]byte, error) {
	data := json.RawMessage("null")
	if len(e.Data) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Data); err != nil {
			return nil, fmt.Errorf("audit event %d: data: %w", e.Seq, err)
		}
		data = buf.Bytes()
	}
	c := canonical{
		Chain:   e.Chain,
		Seq:     e.Seq,
		Time:    e.Time.UTC().Format(time.RFC3339Nano),
		Kind:    e.Kind,
		Actor:   e.Actor,
		Request: e.Request,
		Target:  e.Target,
		Data:    data,
		Prev:    e.Prev,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("audit event %d: encode: %w", e.Seq, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Head is the position of the last event in a chain: what the next event
// links to. The zero Head is an empty chain.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Seal links e after head, in e's chain (e.Chain): it sets Seq, Prev and Hash, normalises Time to
// UTC and compacts Data. Stores call it inside the transaction that appends
// e, having read head in the same transaction, so two writers cannot both
// link to the same head.
func Seal(head Head, e Event) (Event, error) {
	e.Seq = head.Seq + 1
	e.Prev = head.Hash
	e.Time = e.Time.UTC()
	if len(e.Data) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Data); err != nil {
			return Event{}, fmt.Errorf("seal audit event %q: data: %w", e.Kind, err)
		}
		e.Data = buf.Bytes()
	}
	h, err := e.ComputeHash()
	if err != nil {
		return Event{}, err
	}
	e.Hash = h
	return e, nil
}

// Data encodes v as an event's Data. It panics if v cannot be encoded as
// JSON, which for the maps and structs callers pass is a programming error.
func Data(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("audit.Data: %v", err))
	}
	return b
}
