package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
)

func openMirror(t *testing.T, path string) *audit.Mirror {
	t.Helper()
	m, err := audit.OpenMirror(path)
	if err != nil {
		t.Fatalf("OpenMirror: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func verifyFile(t *testing.T, path string, wantLast uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last uint64
	for e, err := range audit.ReadJSONL(f) {
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		last = e.Seq
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyJSONL(f); err != nil {
		t.Errorf("VerifyJSONL(mirror) = %v; want a good chain", err)
	}
	if last != wantLast {
		t.Errorf("mirror ends at event %d; want %d", last, wantLast)
	}
}

// Reopened, the mirror continues where the file ends, whatever the feed
// replays, and the file is the same as an export.
func TestMirrorContinues(t *testing.T) {
	events := chain(t, 6)
	path := filepath.Join(t.TempDir(), "audit.jsonl")

	m := openMirror(t, path)
	if n, err := m.Append(audit.Slice(events[:3])); n != 3 || err != nil {
		t.Fatalf("Append(1..3) = %d, %v; want 3, nil", n, err)
	}
	if n, err := m.Append(audit.Slice(events[1:4])); n != 1 || err != nil {
		t.Fatalf("Append(2..4) = %d, %v; want 1 (2 and 3 are there), nil", n, err)
	}
	m.Close()

	m = openMirror(t, path)
	if got := m.Head(); got.Seq != 4 || got.Hash != events[3].Hash {
		t.Fatalf("reopened Head = %+v; want event 4", got)
	}
	if n, err := m.Append(audit.Slice(events)); n != 2 || err != nil {
		t.Fatalf("Append(all) after reopen = %d, %v; want 2, nil", n, err)
	}
	verifyFile(t, path, 6)

	var export bytes.Buffer
	if err := audit.WriteJSONL(&export, audit.Slice(events)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, export.Bytes()) {
		t.Errorf("mirror file differs from WriteJSONL of the same events:\n%s\nwant:\n%s", got, export.Bytes())
	}
}

// A line cut short by a crash is dropped at reopen and written again.
func TestMirrorTornLine(t *testing.T) {
	events := chain(t, 3)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	m := openMirror(t, path)
	if _, err := m.Append(audit.Slice(events[:3])); err != nil {
		t.Fatal(err)
	}
	m.Close()
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-20], 0o600); err != nil {
		t.Fatal(err)
	}

	m = openMirror(t, path)
	if got := m.Head().Seq; got != 2 {
		t.Fatalf("Head after a torn third line = %d; want 2", got)
	}
	if n, err := m.Append(audit.Slice(events)); n != 1 || err != nil {
		t.Fatalf("Append = %d, %v; want 1, nil", n, err)
	}
	verifyFile(t, path, 3)
}

// A file holding another chain is not spliced onto this one.
func TestMirrorDiverged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	m := openMirror(t, path)
	if _, err := m.Append(audit.Slice(chain(t, 2))); err != nil {
		t.Fatal(err)
	}
	other := chain(t, 3)
	other[1].Actor = "mallory"
	var err error
	if other[1], err = audit.Seal(audit.Head{Seq: 1, Hash: other[0].Hash}, other[1]); err != nil {
		t.Fatal(err)
	}
	n, err := m.Append(audit.Slice(other))
	if n != 0 || !errors.Is(err, audit.ErrMirrorDiverged) {
		t.Errorf("Append(another chain) = %d, %v; want 0, ErrMirrorDiverged", n, err)
	}
	if n, err := m.Append(audit.Slice(chain(t, 3)[2:])); n != 1 || err != nil {
		t.Errorf("Append(own chain's next event) = %d, %v; want 1, nil", n, err)
	}
}

func TestMirrorRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenMirror(path); err == nil {
		t.Errorf("OpenMirror(a file of something else) = nil error; want one")
	}
}
