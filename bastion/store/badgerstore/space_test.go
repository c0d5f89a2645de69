package badgerstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/internal/tmpfs"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// fill writes to dir/name until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	for len(buf) > 1 { // the last partial blocks
		buf = buf[:len(buf)/2]
		f.Write(buf)
	}
}

// TestFullDisk is issue 16 item 4: with its disk full, the gate's store
// raised SIGBUS (Badger's memory-mapped writes) and the gate died, at
// every start too. It runs the store in a child process on a small tmpfs,
// so that a crash is a test failure with its output rather than the end of
// the test binary.
func TestFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 160<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFullDiskChild$", "-test.v")
	cmd.Env = append(os.Environ(), "KEYTURN_FULLDISK_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the full-disk child did not finish within 3 minutes:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFullDiskChild") {
		t.Fatalf("the full-disk child failed (%v):\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func TestFullDiskChild(t *testing.T) {
	dir := os.Getenv("KEYTURN_FULLDISK_DIR")
	if dir == "" {
		t.Skip("run by TestFullDisk")
	}
	storeDir, filler := filepath.Join(dir, "store"), filepath.Join(dir, "filler")
	const reserve = 48 << 20
	open := func() (*badgerstore.Store, *mpa.Service) {
		t.Helper()
		st, err := badgerstore.Open(badgerstore.Options{Dir: storeDir, Reserve: reserve, Logger: logger(t)})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return st, mpa.New(st, mpa.Options{Logger: logger(t)})
	}
	ctx := context.Background()
	st, svc := open()
	// Random text, so Badger's block compression does not shrink it.
	raw := make([]byte, 24<<10)
	rand.Read(raw)
	data := json.RawMessage(`{"command":"` + base64.StdEncoding.EncodeToString(raw) + `"}`)
	record := func() error {
		_, err := svc.Record(ctx, audit.Event{Kind: "decision", Actor: "alice", Data: data})
		return err
	}
	written := 0
	for range 20 {
		if err := record(); err != nil {
			t.Fatalf("record with space: %v", err)
		}
		written++
	}

	// Something else fills the disk. Writes are refused, never a crash;
	// reads go on; the health check says so.
	fill(t, filler)
	for range 50 {
		err := record()
		if !errors.Is(err, mpa.ErrStoreFull) {
			t.Fatalf("record on a full disk: %v, want ErrStoreFull", err)
		}
	}
	if err := st.CheckSpace(); !errors.Is(err, mpa.ErrStoreFull) {
		t.Fatalf("CheckSpace on a full disk: %v", err)
	}
	if _, full := st.Space(); !full {
		t.Fatal("Space does not report the store full")
	}
	wantTrail(ctx, t, svc, written, "on a full disk")
	// A restart on the full disk: closing flushes, opening is refused
	// with a clear error, and nothing crashes.
	if err := st.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}
	if _, err := badgerstore.Open(badgerstore.Options{Dir: storeDir, Reserve: reserve, Logger: logger(t)}); !errors.Is(err, mpa.ErrStoreFull) ||
		!strings.Contains(err.Error(), "keeps in reserve") {
		t.Fatalf("open on a full disk: %v, want a store-full error", err)
	}

	// Some space back, less than the reserve: the store opens for
	// reads, refuses writes.
	info, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	// 56 MiB free: enough to open (40 MiB), short of the reserve and
	// the ballast (72 MiB).
	if give := 56<<20 - int64(fs.Bavail)*fs.Bsize; give > 0 {
		if err := os.Truncate(filler, info.Size()-give); err != nil {
			t.Fatal(err)
		}
	}
	st, svc = open()
	if n := countEvents(t, svc); n != written {
		t.Fatalf("read %d events below the reserve, want %d", n, written)
	}
	if err := record(); !errors.Is(err, mpa.ErrStoreFull) {
		t.Fatalf("record below the reserve: %v, want ErrStoreFull", err)
	}
	if err := svc.VerifyAudit(ctx); err != nil {
		t.Fatalf("verify below the reserve: %v", err)
	}

	// Space returns: the same store writes again, and the chain verifies.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := record(); err != nil {
		t.Fatalf("record once space returned: %v", err)
	}
	written++
	if err := st.CheckSpace(); err != nil {
		t.Fatalf("CheckSpace once space returned: %v", err)
	}

	// The store fills the disk itself: it stops at its reserve, through
	// memtable flushes, without a crash.
	full := false
	for range 4000 {
		err := record()
		if errors.Is(err, mpa.ErrStoreFull) {
			full = true
			break
		}
		if err != nil {
			t.Fatalf("record: %v", err)
		}
		written++
	}
	if !full {
		t.Fatal("the store never reached its reserve")
	}
	if free, _ := st.Space(); free <= 0 {
		t.Errorf("the store used up its reserve: %d bytes free", free)
	}
	wantTrail(ctx, t, svc, written, "at the reserve")
	if err := st.Close(); err != nil {
		t.Fatalf("close at the reserve: %v", err)
	}
	t.Logf("%d events of %d bytes written before the reserve", written, len(data))
}

// wantTrail fails the test unless svc reads back exactly written events
// and its audit trail verifies; when says at which point of the test.
func wantTrail(ctx context.Context, t *testing.T, svc *mpa.Service, written int, when string) {
	t.Helper()
	if n := countEvents(t, svc); n != written {
		t.Fatalf("read %d events %s, want %d", n, when, written)
	}
	if err := svc.VerifyAudit(ctx); err != nil {
		t.Fatalf("verify %s: %v", when, err)
	}
}

func countEvents(t *testing.T, svc *mpa.Service) int {
	t.Helper()
	n := 0
	for _, err := range svc.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
