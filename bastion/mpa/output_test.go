package mpa_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// TestOutputRecorderInterleaves: stdout and stderr pieces keep their order,
// streams and times.
func TestOutputRecorderInterleaves(t *testing.T) {
	clock := mpatest.NewClock(start)
	rec := mpa.NewOutputRecorder("req-1", 0, clock.Now)
	fmt.Fprint(rec.Stdout(), "one\n")
	clock.Advance(250 * time.Millisecond)
	fmt.Fprint(rec.Stderr(), "oops\n")
	clock.Advance(time.Second)
	fmt.Fprint(rec.Stdout(), "two\n")
	out := rec.Output()
	want := []mpa.OutputChunk{
		{At: 0, Stream: "o", Data: []byte("one\n")},
		{At: 250 * time.Millisecond, Stream: "e", Data: []byte("oops\n")},
		{At: 1250 * time.Millisecond, Stream: "o", Data: []byte("two\n")},
	}
	if got := out.Chunks(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chunks = %v\nwant %v", got, want)
	}
	sum := sha256.Sum256([]byte("one\noops\ntwo\n"))
	if out.TotalBytes != 13 || out.TotalSHA256 != hex.EncodeToString(sum[:]) || out.OmittedBytes != 0 || out.Limit != mpa.DefaultOutputLimit {
		t.Errorf("output = %+v", out)
	}
	if got := out.HeadLines(); got != "one\noops\ntwo\n" {
		t.Errorf("HeadLines = %q", got)
	}
}

// TestOutputRecorderKeepsHeadAndTail: past the limit the first and last
// halves are kept, exactly, and the hash is still of everything.
func TestOutputRecorderKeepsHeadAndTail(t *testing.T) {
	clock := mpatest.NewClock(start)
	const limit = 1000
	rec := mpa.NewOutputRecorder("req-1", limit, clock.Now)
	var all bytes.Buffer
	for i := range 500 {
		line := fmt.Sprintf("line %04d\n", i)
		all.WriteString(line)
		w := rec.Stdout()
		if i%7 == 0 {
			w = rec.Stderr()
		}
		w.Write([]byte(line))
		clock.Advance(3 * time.Millisecond)
	}
	out := rec.Output()
	var head, tail []byte
	for _, c := range out.Head {
		head = append(head, c.Data...)
	}
	for _, c := range out.Tail {
		tail = append(tail, c.Data...)
	}
	want := all.Bytes()
	if !bytes.Equal(head, want[:limit/2]) || !bytes.Equal(tail, want[len(want)-limit/2:]) {
		t.Errorf("head %q...\ntail ...%q", head[len(head)-20:], tail[:20])
	}
	if out.OmittedBytes != int64(len(want)-limit) || out.TotalBytes != int64(len(want)) {
		t.Errorf("omitted %d of %d; want %d of %d", out.OmittedBytes, out.TotalBytes, len(want)-limit, len(want))
	}
	sum := sha256.Sum256(want)
	if out.TotalSHA256 != hex.EncodeToString(sum[:]) {
		t.Error("TotalSHA256 is not of everything written")
	}
	for _, c := range out.Tail {
		if c.Stream == "e" && !strings.HasPrefix(string(c.Data), "line") {
			t.Errorf("stderr piece split oddly: %q", c.Data)
		}
	}
}

// TestOutputRecorderBoundsPieces: a command writing one byte at a time,
// slowly, cannot make the record keep a piece per byte.
func TestOutputRecorderBoundsPieces(t *testing.T) {
	clock := mpatest.NewClock(start)
	rec := mpa.NewOutputRecorder("req-1", 1<<20, clock.Now)
	for i := range 100000 {
		w := rec.Stdout()
		if i%2 == 1 {
			w = rec.Stderr()
		}
		w.Write([]byte{'x'})
		clock.Advance(2 * time.Millisecond)
	}
	out := rec.Output()
	if n := len(out.Head) + len(out.Tail); n > 1<<15 {
		t.Errorf("%d pieces kept for 100000 one-byte writes; want at most %d", n, 1<<15)
	}
	if out.TotalBytes != 100000 {
		t.Errorf("TotalBytes = %d", out.TotalBytes)
	}
}

func TestHeadLinesEscapes(t *testing.T) {
	rec := mpa.NewOutputRecorder("req-1", 0, nil)
	fmt.Fprint(rec, "\x1b]0;pwned\x07title\n\xffbad\n")
	for i := range 20 {
		fmt.Fprintf(rec, "line %d\n", i)
	}
	out := rec.Output()
	got := out.HeadLines()
	if strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `\x1b]0;pwned\atitle`) {
		t.Errorf("HeadLines = %q; want escapes written out", got)
	}
	if n := strings.Count(got, "\n"); n != 10 {
		t.Errorf("HeadLines has %d lines; want 10", n)
	}
}

// released runs a request to Executing, as the gate does before it sends
// the command.
func released(e *env) mpa.Request {
	e.t.Helper()
	e.Register("bob", "carol")
	r := e.create("alice", 1)
	e.mustApprove(r.ID, "bob")
	r, err := e.svc.BeginExecution(e.ctx, r.ID, "alice")
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// TestOutputKeptAndVerified: the kept record reads back as saved, its hash
// is the one the request.output audit event holds, and the chain
// verifies; a record changed in the store no longer matches.
func TestOutputKeptAndVerified(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	r := released(e)
	saved := mpatest.FinishWithOutput(t, e.ctx, e.svc, r.ID, e.clock.Now, func(rec *mpa.OutputRecorder) {
		fmt.Fprint(rec.Stdout(), "deleted snapshot tank@1\n")
		fmt.Fprint(rec.Stderr(), "warning: 3 clones\n")
	})
	got, err := e.svc.RequestOutput(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Matches() || got.AuditSeq == 0 {
		t.Errorf("stored %s, audit event %d recorded %q: want a match", got.SHA256, got.AuditSeq, got.Recorded)
	}
	if fmt.Sprint(got.Output.Chunks()) != fmt.Sprint(saved.Chunks()) || got.Output.TotalSHA256 != saved.TotalSHA256 {
		t.Errorf("read back %+v\nsaved %+v", got.Output, saved)
	}
	e.verifyAudit()

	// A second save is refused: the request is no longer executing.
	if err := e.svc.SaveOutput(e.ctx, r.ID, saved); !errors.Is(err, mpa.ErrNotExecuting) {
		t.Errorf("save after completion = %v; want ErrNotExecuting", err)
	}

	// Someone with the store's files rewrites the record.
	err = e.store.Update(e.ctx, func(tx mpa.Tx) error {
		forged := saved
		forged.Head = []mpa.OutputChunk{{Stream: "o", Data: []byte("nothing happened\n")}}
		b, _ := json.Marshal(forged)
		return tx.(mpa.OutputTx).PutOutput(r.ID, b, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = e.svc.RequestOutput(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Matches() {
		t.Error("a rewritten record matches the audit trail")
	}
}

func TestOutputOfUnknownRequest(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	if _, err := e.svc.RequestOutput(e.ctx, "req-nothere"); !errors.Is(err, mpa.ErrNotFound) {
		t.Errorf("RequestOutput = %v; want ErrNotFound", err)
	}
	r := e.create("alice", 1)
	if err := e.svc.SaveOutput(e.ctx, r.ID, mpa.Output{}); !errors.Is(err, mpa.ErrNotExecuting) {
		t.Errorf("SaveOutput of a pending request = %v; want ErrNotExecuting", err)
	}
}

// checkAsciicast checks data against the asciicast v2 format and returns
// the concatenated output of its events.
func checkAsciicast(t *testing.T, data []byte) (header map[string]any, text string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() {
		t.Fatal("empty recording")
	}
	if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
		t.Fatalf("header %q: %v", sc.Text(), err)
	}
	if header["version"] != float64(2) {
		t.Errorf("version = %v; want 2", header["version"])
	}
	for _, f := range []string{"width", "height"} {
		if v, ok := header[f].(float64); !ok || v <= 0 || v != float64(int(v)) {
			t.Errorf("%s = %v; want a positive integer", f, header[f])
		}
	}
	if _, ok := header["timestamp"].(float64); !ok {
		t.Errorf("timestamp = %v; want a number", header["timestamp"])
	}
	last := 0.0
	var b strings.Builder
	for n := 2; sc.Scan(); n++ {
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("line %d: %q is not a [time, type, data] event", n, sc.Text())
		}
		at, ok1 := ev[0].(float64)
		typ, ok2 := ev[1].(string)
		s, ok3 := ev[2].(string)
		if !ok1 || !ok2 || !ok3 || at < last || (typ != "o" && typ != "i" && typ != "m" && typ != "r") {
			t.Fatalf("line %d: bad event %q (after time %v)", n, sc.Text(), last)
		}
		last = at
		if typ == "o" {
			b.WriteString(s)
		}
	}
	return header, b.String()
}

func TestAsciicast(t *testing.T) {
	clock := mpatest.NewClock(start)
	rec := mpa.NewOutputRecorder("req-7", 0, clock.Now)
	rec.SetTerminal("xterm-256color", 120, 40)
	rec.Stdout().Write([]byte("\x1b[1mhello\x1b[0m \xe2\x82"))
	clock.Advance(1500 * time.Millisecond)
	rec.Stdout().Write([]byte("\xac\r\n")) // the euro sign, split
	clock.Advance(time.Second)
	rec.Stderr().Write([]byte("bye\r\n"))
	out := rec.Output()
	var buf bytes.Buffer
	if err := out.WriteAsciicast(&buf); err != nil {
		t.Fatal(err)
	}
	header, text := checkAsciicast(t, buf.Bytes())
	if header["width"] != float64(120) || header["height"] != float64(40) {
		t.Errorf("size %vx%v; want the terminal's 120x40", header["width"], header["height"])
	}
	if env, _ := header["env"].(map[string]any); env["TERM"] != "xterm-256color" {
		t.Errorf("env = %v", header["env"])
	}
	if want := "\x1b[1mhello\x1b[0m €\r\nbye\r\n"; text != want {
		t.Errorf("played back %q; want %q", text, want)
	}
	if !strings.Contains(buf.String(), "[2.5,") {
		t.Errorf("no event at 2.5s:\n%s", buf.String())
	}
}

func TestAsciicastTruncated(t *testing.T) {
	rec := mpa.NewOutputRecorder("req-8", 100, nil)
	for i := range 100 {
		fmt.Fprintf(rec, "line %d\r\n", i)
	}
	out := rec.Output()
	var buf bytes.Buffer
	if err := out.WriteAsciicast(&buf); err != nil {
		t.Fatal(err)
	}
	header, text := checkAsciicast(t, buf.Bytes())
	if header["width"] != float64(80) {
		t.Errorf("width %v; want 80 without a terminal", header["width"])
	}
	if !strings.Contains(text, fmt.Sprintf("[keyturn: %d bytes of output omitted here]", out.OmittedBytes)) ||
		!strings.HasPrefix(text, "line 0\r\n") || !strings.HasSuffix(text, "line 99\r\n") {
		t.Errorf("played back %q", text)
	}
}

// BenchmarkOutputRecorder is the recording's cost per 32 KiB write (the
// gate's copy buffer) once the limit is reached and the tail rolls.
func BenchmarkOutputRecorder(b *testing.B) {
	rec := mpa.NewOutputRecorder("req-1", mpa.DefaultOutputLimit, nil)
	p := bytes.Repeat([]byte("x"), 32<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		rec.Stdout().Write(p)
	}
}
