package mpa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/keyturn/keyturn/bastion/audit"
)

// The output of a released command is kept, so that approvers and auditors
// can see what an approved command did: stdout and stderr interleaved as
// they came, each piece with its time. A record longer than its limit
// keeps its head and its tail. The record is stored apart from its request
// (requests are read and watched all the time; output rarely), with the
// request's retention, and the SHA-256 of the stored bytes goes into a
// request.output audit event, so a kept copy can be checked against the
// chain.

// DefaultOutputLimit is how much of a command's output is kept when the
// configuration does not say.
const DefaultOutputLimit = 1 << 20

// MaxOutputLimit bounds the configured limit: the record is one store
// value.
const MaxOutputLimit = 64 << 20

// Output streams, named as asciicast names its events.
const (
	StreamStdout = "o"
	StreamStderr = "e"
)

// maxChunks bounds the pieces a record keeps, whatever the command's
// write pattern: past it, pieces are merged into the last one.
const maxChunks = 1 << 15

// headLines and headBytes bound Execution.OutputHead.
const (
	headLines = 10
	headBytes = 2048
)

// OutputChunk is one piece of output as it came.
type OutputChunk struct {
	// At is the time since Output.Start.
	At     time.Duration `json:"at"`
	Stream string        `json:"stream"` // StreamStdout or StreamStderr
	Data   []byte        `json:"data"`
}

// Output is the kept output of one released command.
type Output struct {
	Request string    `json:"request"`
	Start   time.Time `json:"start"`
	// Terminal is set when the command ran with one (then stdout and
	// stderr are one stream, as the terminal showed them).
	Terminal *Terminal `json:"terminal,omitempty"`
	// TotalBytes and TotalSHA256 are of everything the command wrote,
	// kept or not (Execution.OutputBytes and OutputSHA256).
	TotalBytes  int64  `json:"total_bytes"`
	TotalSHA256 string `json:"total_sha256"`
	Limit       int64  `json:"limit"`
	// Head is the first half of what was kept. If the output was longer
	// than Limit, OmittedBytes were dropped between Head and Tail.
	Head         []OutputChunk `json:"head"`
	OmittedBytes int64         `json:"omitted_bytes,omitempty"`
	Tail         []OutputChunk `json:"tail,omitempty"`
}

// Terminal is the terminal a command ran with.
type Terminal struct {
	Term   string `json:"term,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Chunks returns the kept pieces in order.
func (o *Output) Chunks() []OutputChunk {
	return append(append([]OutputChunk{}, o.Head...), o.Tail...)
}

// OutputRecorder records what a released command writes, up to a limit.
// Its writers may be used from several goroutines.
type OutputRecorder struct {
	mu        sync.Mutex
	out       Output
	now       func() time.Time
	h         hash.Hash
	headLimit int64
	tailLimit int64
	headBytes int64
	tailBytes int64
}

// NewOutputRecorder starts a record for request id keeping up to limit
// bytes (DefaultOutputLimit if limit <= 0); now is its clock.
func NewOutputRecorder(id string, limit int64, now func() time.Time) *OutputRecorder {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	limit = min(limit, MaxOutputLimit)
	if now == nil {
		now = time.Now
	}
	return &OutputRecorder{
		out:       Output{Request: id, Start: now(), Limit: limit},
		now:       now,
		h:         sha256.New(),
		headLimit: limit / 2,
		tailLimit: limit - limit/2,
	}
}

// SetTerminal records that the command runs with a terminal.
func (r *OutputRecorder) SetTerminal(term string, width, height int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Terminal = &Terminal{Term: term, Width: width, Height: height}
}

// Write records p as stdout.
func (r *OutputRecorder) Write(p []byte) (int, error) { return r.write(StreamStdout, p) }

// Stdout and Stderr are writers for each stream.
func (r *OutputRecorder) Stdout() io.Writer { return streamWriter{r, StreamStdout} }

// Stderr: see Stdout.
func (r *OutputRecorder) Stderr() io.Writer { return streamWriter{r, StreamStderr} }

type streamWriter struct {
	r      *OutputRecorder
	stream string
}

func (w streamWriter) Write(p []byte) (int, error) { return w.r.write(w.stream, p) }

func (r *OutputRecorder) write(stream string, p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	r.out.TotalBytes += int64(n)
	r.h.Write(p)
	at := r.now().Sub(r.out.Start)
	if take := min(int64(len(p)), r.headLimit-r.headBytes); take > 0 {
		r.out.Head = appendChunk(r.out.Head, at, stream, p[:take])
		r.headBytes += take
		p = p[take:]
	}
	if len(p) == 0 {
		return n, nil
	}
	r.out.Tail = appendChunk(r.out.Tail, at, stream, p)
	r.tailBytes += int64(len(p))
	for r.tailBytes > r.tailLimit {
		first := &r.out.Tail[0]
		excess := r.tailBytes - r.tailLimit
		if int64(len(first.Data)) <= excess {
			r.tailBytes -= int64(len(first.Data))
			r.out.OmittedBytes += int64(len(first.Data))
			r.out.Tail = r.out.Tail[1:]
			continue
		}
		first.Data = first.Data[excess:]
		r.tailBytes -= excess
		r.out.OmittedBytes += excess
	}
	return n, nil
}

// appendChunk adds a copy of p to chunks, into the last piece if it is of
// the same stream and time, or if there are too many pieces already.
func appendChunk(chunks []OutputChunk, at time.Duration, stream string, p []byte) []OutputChunk {
	if k := len(chunks); k > 0 && (k >= maxChunks || chunks[k-1].Stream == stream && at-chunks[k-1].At < time.Millisecond) {
		chunks[k-1].Data = append(chunks[k-1].Data, p...)
		return chunks
	}
	return append(chunks, OutputChunk{At: at, Stream: stream, Data: append([]byte(nil), p...)})
}

// Output returns the record so far.
func (r *OutputRecorder) Output() Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.out
	o.TotalSHA256 = hex.EncodeToString(r.h.Sum(nil))
	o.Head = cloneChunks(o.Head)
	o.Tail = cloneChunks(o.Tail)
	if o.Terminal != nil {
		t := *o.Terminal
		o.Terminal = &t
	}
	return o
}

func cloneChunks(cs []OutputChunk) []OutputChunk {
	out := make([]OutputChunk, len(cs))
	for i, c := range cs {
		out[i] = OutputChunk{At: c.At, Stream: c.Stream, Data: append([]byte(nil), c.Data...)}
	}
	return out
}

// HeadLines returns the first lines of the output (at most 10 lines and
// 2 KiB), with control characters other than newline and tab escaped,
// for notifications.
func (o *Output) HeadLines() string {
	var b []byte
	for _, c := range o.Head {
		b = append(b, c.Data...)
		if len(b) >= headBytes {
			break
		}
	}
	if len(b) > headBytes {
		b = b[:headBytes]
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > headLines {
		lines = lines[:headLines]
	}
	return escapeControls(strings.Join(lines, ""))
}

// escapeControls replaces invalid UTF-8 and writes control characters
// (but newline and tab) as Go escapes, so that a notification cannot carry
// terminal escape sequences.
func escapeControls(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029') {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// OutputTx is what a store transaction implements to keep command output.
// It is separate from [Tx] so that a store without it still works: the
// gate then keeps the output's size and hash only, and says so.
type OutputTx interface {
	// PutOutput writes the record of request id; a positive ttl removes
	// it that long after the write.
	PutOutput(id string, record []byte, ttl time.Duration) error
	// GetOutput returns the record of request id, or ErrNotFound.
	GetOutput(id string) ([]byte, error)
}

// ErrNoOutputStore: the store cannot keep output.
var ErrNoOutputStore = errors.New("mpa: the store cannot keep command output")

// SaveOutput keeps out for request id, which must be Executing, with the
// retention of a completed request, and appends a request.output audit
// event holding the SHA-256 of the stored bytes. Call it before
// FinishExecution.
func (s *Service) SaveOutput(ctx context.Context, id string, out Output) error {
	record, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("save output of %s: %w", id, err)
	}
	sum := sha256.Sum256(record)
	err = s.update(ctx, func(tx Tx) error {
		otx, ok := tx.(OutputTx)
		if !ok {
			return ErrNoOutputStore
		}
		r, err := tx.GetRequest(id)
		if err != nil {
			return err
		}
		if r.Status != StatusExecuting {
			return fmt.Errorf("%w: it is %s", ErrNotExecuting, r.Status)
		}
		if err := otx.PutOutput(id, record, s.life.Retention(StatusCompleted)); err != nil {
			return err
		}
		return s.audit(tx, audit.KindRequestOutput, r.Requester, &r, map[string]any{
			"record_sha256": hex.EncodeToString(sum[:]), "record_bytes": len(record),
			"output_bytes": out.TotalBytes, "output_sha256": out.TotalSHA256,
			"omitted_bytes": out.OmittedBytes, "terminal": out.Terminal != nil,
		})
	})
	if err != nil {
		return fmt.Errorf("save output of %s: %w", id, err)
	}
	return nil
}

// StoredOutput is a kept output as read back, with what the audit trail
// says of it.
type StoredOutput struct {
	Output Output
	// SHA256 is of the stored record's bytes.
	SHA256 string
	// Recorded is the SHA-256 the request.output audit event holds, and
	// AuditSeq that event's sequence number; "" and 0 if there is none.
	Recorded string
	AuditSeq uint64
}

// Matches reports whether the stored record is the one the audit trail
// recorded.
func (o StoredOutput) Matches() bool { return o.Recorded != "" && o.Recorded == o.SHA256 }

// RequestOutput reads the kept output of request id and the audit event
// that recorded it. It does not verify the audit chain itself: see
// VerifyAudit.
func (s *Service) RequestOutput(ctx context.Context, id string) (StoredOutput, error) {
	var out StoredOutput
	var record []byte
	err := s.store.View(ctx, func(tx Tx) error {
		otx, ok := tx.(OutputTx)
		if !ok {
			return ErrNoOutputStore
		}
		var err error
		record, err = otx.GetOutput(id)
		return err
	})
	if err != nil {
		return StoredOutput{}, fmt.Errorf("read kept output: %w", err)
	}
	if err := json.Unmarshal(record, &out.Output); err != nil {
		return StoredOutput{}, fmt.Errorf("output of %s: decode: %w", id, err)
	}
	sum := sha256.Sum256(record)
	out.SHA256 = hex.EncodeToString(sum[:])
	for e, err := range s.AuditEvents(ctx, audit.Filter{Request: id}) {
		if err != nil {
			return StoredOutput{}, fmt.Errorf("output of %s: audit: %w", id, err)
		}
		if e.Kind != audit.KindRequestOutput {
			continue
		}
		var d struct {
			RecordSHA256 string `json:"record_sha256"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return StoredOutput{}, fmt.Errorf("output of %s: audit event %d: %w", id, e.Seq, err)
		}
		out.Recorded, out.AuditSeq = d.RecordSHA256, e.Seq
	}
	return out, nil
}
