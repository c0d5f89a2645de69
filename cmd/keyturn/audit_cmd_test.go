package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

type cmdResult struct {
	code           int
	stdout, stderr string
}

// runTool runs one of the offline tools' main functions with stdin.
func runTool(main func([]string, io.Reader, io.Writer, io.Writer) int, stdin string, args ...string) cmdResult {
	var out, errb bytes.Buffer
	code := main(args, strings.NewReader(stdin), &out, &errb)
	return cmdResult{code, out.String(), errb.String()}
}

func toolLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openDir opens a store in dir; the caller closes it before running a
// tool, as the gate must be stopped.
func openDir(t *testing.T, dir string) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: toolLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// auditDir makes a data dir holding a chain of n events.
func auditDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	st := openDir(t, dir)
	defer st.Close()
	svc := mpa.New(st, mpa.Options{Logger: toolLogger(t)})
	for i := range n {
		_, err := svc.Record(context.Background(), audit.Event{Kind: "session.start", Actor: "alice",
			Target: "web-1", Data: audit.Data(map[string]any{"i": i})})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func export(t *testing.T, dir string) string {
	t.Helper()
	st := openDir(t, dir)
	defer st.Close()
	svc := mpa.New(st, mpa.Options{Logger: toolLogger(t)})
	var b bytes.Buffer
	if err := audit.WriteJSONL(&b, svc.AuditEvents(context.Background(), audit.Filter{})); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAuditVerifyDataDir(t *testing.T) {
	dir := auditDir(t, 4)
	r := runTool(auditMain, "", "verify", "--data-dir", dir)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "audit chain ok: 4 events, head seq 4 hash ") {
		t.Fatalf("verify good dir: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// The gate holds the lock: a clear refusal, not a Badger error.
	st := openDir(t, dir)
	r = runTool(auditMain, "", "verify", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "already in use by another keyturn process; stop the gate first") {
		t.Errorf("verify locked dir: exit %d stderr %q", r.code, r.stderr)
	}

	// Edit event 2 in Badger behind the service's back.
	err := st.DB().Update(func(txn *badger.Txn) error {
		item, err := txn.Get(badgerstore.AuditKey(2))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(badgerstore.AuditKey(2), bytes.Replace(v, []byte(`"actor":"alice"`), []byte(`"actor":"mallory"`), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = runTool(auditMain, "", "verify", "--data-dir", dir)
	if r.code != 1 || r.stdout != "audit chain is BROKEN: first bad event is seq 2 (position 1): edited\n" ||
		!strings.Contains(r.stderr, "keyturn audit verify: "+dir+": audit: event 2 (position 1): edited") {
		t.Errorf("verify tampered dir: exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
	}

	// A dir without a store is refused, and not turned into an empty one.
	empty := t.TempDir()
	r = runTool(auditMain, "", "verify", "--data-dir", empty)
	if r.code != 1 || !strings.Contains(r.stderr, "holds no keyturn store") {
		t.Errorf("verify empty dir: exit %d stderr %q", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("verify wrote into an empty dir: %v", ents)
	}
}

func TestAuditVerifyFile(t *testing.T) {
	good := export(t, auditDir(t, 5))
	lines := strings.SplitAfter(good, "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	if len(lines) != 5 {
		t.Fatalf("export has %d lines:\n%s", len(lines), good)
	}
	write := func(name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		content string
		code    int
		stdout  string
	}{
		{"good", good, 0, "audit chain ok: 5 events, head seq 5 hash "},
		{"edited", strings.Join(lines[:2], "") + strings.Replace(lines[2], `"actor":"alice"`, `"actor":"mallory"`, 1) + strings.Join(lines[3:], ""),
			1, "audit chain is BROKEN: first bad event is seq 3 (position 2): edited\n"},
		{"removed", strings.Join(lines[:1], "") + strings.Join(lines[2:], ""),
			1, "audit chain is BROKEN: first bad event is seq 3 (position 1): removed\n"},
		{"reordered", lines[0] + lines[2] + lines[1] + strings.Join(lines[3:], ""),
			1, "audit chain is BROKEN: first bad event is seq 3 (position 1): reordered\n"},
		{"garbage", good + "not json\n", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name+".jsonl", tc.content)
			r := runTool(auditMain, "", "verify", "--file", p)
			if r.code != tc.code || !strings.HasPrefix(r.stdout, tc.stdout) {
				t.Errorf("verify --file: exit %d\nstdout: %q\nstderr: %q\nwant %d, %q", r.code, r.stdout, r.stderr, tc.code, tc.stdout)
			}
			if tc.code != 0 && !strings.Contains(r.stderr, "keyturn audit verify: "+p+": ") {
				t.Errorf("verify --file: stderr %q does not name the file", r.stderr)
			}
		})
	}
	if r := runTool(auditMain, good, "verify", "--file", "-"); r.code != 0 {
		t.Errorf("verify --file - (stdin): exit %d stderr %q", r.code, r.stderr)
	}
	if r := runTool(auditMain, "", "verify", "--file", filepath.Join(t.TempDir(), "missing.jsonl")); r.code != 1 ||
		!strings.Contains(r.stderr, "no such file") {
		t.Errorf("verify missing file: exit %d stderr %q", r.code, r.stderr)
	}
}
