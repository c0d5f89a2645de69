package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
)

// WriteJSONL writes events as JSON Lines, one event per line with its chain
// hashes, stopping at the first error.
func WriteJSONL(w io.Writer, events iter.Seq2[Event, error]) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for e, err := range events {
		if err != nil {
			return fmt.Errorf("export audit: %w", err)
		}
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("export audit event %d: %w", e.Seq, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit: %w", err)
	}
	return nil
}

// ReadJSONL iterates over the events in a JSON Lines export. A line that is
// not an event yields an error naming its line number and ends iteration.
func ReadJSONL(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		line := 0
		for sc.Scan() {
			line++
			if len(sc.Bytes()) == 0 {
				continue
			}
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				yield(Event{}, fmt.Errorf("line %d: %w", line, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Event{}, fmt.Errorf("line %d: %w", line+1, err))
		}
	}
}

// VerifyJSONL checks an export made by [WriteJSONL] without access to the
// gate: the offline check an auditor runs. Without the gate's head record a
// truncated tail cannot be detected; compare the last seq and hash with
// what the gate reports.
func VerifyJSONL(r io.Reader) error {
	return Verify(ReadJSONL(r))
}
