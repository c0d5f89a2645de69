package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

// ErrMirrorDiverged is returned by [Mirror.Append] when the file holds a
// chain other than the one being appended (another store's, or an edited
// copy): the mirror refuses to splice two chains into one file.
var ErrMirrorDiverged = errors.New("audit: mirror file does not continue this chain")

// Mirror appends events to a JSON Lines file in the format of
// [WriteJSONL], so that the file verifies with [VerifyJSONL] and a log
// shipper can follow it. It continues where the file ends: reopened after
// a restart it appends only events it does not hold yet.
//
// A Mirror is not safe for concurrent use; one goroutine feeds it.
type Mirror struct {
	f    *os.File
	path string
	head Head
}

// OpenMirror opens (creating, mode 0600) the mirror file at path and reads
// the last event in it. A last line cut short by a crash is removed: the
// event is still in the store and is written again.
func OpenMirror(path string) (*Mirror, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit mirror: %w", err)
	}
	head, end, err := lastEvent(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit mirror %s: %w", path, err)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit mirror %s: drop torn line: %w", path, err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit mirror %s: %w", path, err)
	}
	return &Mirror{f: f, path: path, head: head}, nil
}

// Head is the last event in the file; the zero Head for an empty file.
func (m *Mirror) Head() Head { return m.head }

// Append writes the events that follow the file's head, in order, and
// syncs the file once at the end: one fsync per batch, not per event.
// Events at or before the head are skipped, after checking that the one at
// the head is the file's own (else [ErrMirrorDiverged]). A gap or a bad
// link stops the batch with an error; what was written before it is kept.
// It returns how many events it wrote.
func (m *Mirror) Append(events iter.Seq2[Event, error]) (int, error) {
	// Where the batch starts: bw may write part of it before commit.
	at, err := m.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("audit mirror %s: %w", m.path, err)
	}
	bw := bufio.NewWriter(m.f)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	head, n := m.head, 0
	var werr error
	for e, err := range events {
		if err != nil {
			werr = fmt.Errorf("read audit events: %w", err)
			break
		}
		if e.Seq <= head.Seq {
			if e.Seq == head.Seq && e.Hash != head.Hash {
				werr = fmt.Errorf("%w: event %d is %s in the store, %s in %s", ErrMirrorDiverged, e.Seq, e.Hash, head.Hash, m.path)
				break
			}
			continue
		}
		if e.Seq != head.Seq+1 || e.Prev != head.Hash {
			werr = fmt.Errorf("%w: event %d does not follow event %d in %s", ErrMirrorDiverged, e.Seq, head.Seq, m.path)
			break
		}
		if err := enc.Encode(e); err != nil {
			werr = fmt.Errorf("encode audit event %d: %w", e.Seq, err)
			break
		}
		head = Head{Seq: e.Seq, Hash: e.Hash}
		n++
	}
	if n == 0 {
		m.rollback(at)
		return 0, werr
	}
	if err := m.commit(bw, at); err != nil {
		return 0, errors.Join(werr, err)
	}
	m.head = head
	return n, werr
}

// commit writes and syncs what bw holds. On failure it cuts the file back
// to where it was, so a half-written line is not left for the next batch
// to follow.
func (m *Mirror) commit(bw *bufio.Writer, at int64) error {
	err := bw.Flush()
	if err == nil {
		err = m.f.Sync()
	}
	if err == nil {
		return nil
	}
	m.rollback(at)
	return fmt.Errorf("write audit mirror %s: %w", m.path, err)
}

// rollback cuts the file back to offset at, where the batch began.
func (m *Mirror) rollback(at int64) {
	if m.f.Truncate(at) == nil {
		m.f.Seek(at, io.SeekStart)
	}
}

// Close closes the file.
func (m *Mirror) Close() error { return m.f.Close() }

// lastEvent returns the head of the chain in f and the offset just past
// its last complete line. It reads backwards from the end, so reopening a
// large mirror costs one line, not the file.
func lastEvent(f *os.File) (Head, int64, error) {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return Head{}, 0, err
	}
	torn := end > 0 && !endsInNewline(f, end)
	for end > 0 {
		start, line, err := lineBefore(f, end)
		if err != nil {
			return Head{}, 0, err
		}
		if torn || len(bytes.TrimSpace(line)) == 0 {
			// The unterminated tail a crash left, or a blank line:
			// look at the line before it.
			torn = false
			end = start
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil || e.Seq == 0 || e.Hash == "" {
			return Head{}, 0, fmt.Errorf("last line (at byte %d) is not an audit event", start)
		}
		return Head{Seq: e.Seq, Hash: e.Hash}, end, nil
	}
	return Head{}, 0, nil
}

// lineBefore returns the line that ends at end (not counting a newline
// just before end) and the offset where it starts.
func lineBefore(f *os.File, end int64) (int64, []byte, error) {
	const chunk = 64 << 10
	stop := end
	if endsInNewline(f, end) {
		stop--
	}
	pos := stop
	var tail []byte // the bytes from pos to stop
	for pos > 0 {
		n := min(int64(chunk), pos)
		b := make([]byte, n)
		if _, err := f.ReadAt(b, pos-n); err != nil {
			return 0, nil, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return pos - n + int64(i) + 1, append(b[i+1:], tail...), nil
		}
		tail = append(b, tail...)
		pos -= n
	}
	return 0, tail, nil
}

// endsInNewline reports whether the byte before offset end is a newline.
func endsInNewline(f *os.File, end int64) bool {
	if end == 0 {
		return false
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, end-1); err != nil {
		return false
	}
	return b[0] == '\n'
}
