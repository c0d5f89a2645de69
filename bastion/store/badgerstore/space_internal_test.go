//go:build linux

package badgerstore

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// allocated is how many bytes of path have blocks behind them.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// allocate's shortcut (no directory read while the data dir is unchanged)
// never leaves a log file Badger created after a scan without its blocks,
// and still allocates a file grown in place within rescanEvery.
func TestAllocateShortcut(t *testing.T) {
	dir := t.TempDir()
	sp := &space{dir: dir, reserve: 1, log: slog.New(slog.DiscardHandler), allocated: map[string]int64{}}
	allocate := func() {
		t.Helper()
		if err := sp.allocate(); err != nil {
			t.Fatal(err)
		}
	}
	setMtime := func(at time.Time) { // of the data dir, which the shortcut trusts
		t.Helper()
		if err := os.Chtimes(dir, at, at); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "000001.mem"), filepath.Join(dir, "000002.mem")
	const mib = 1 << 20
	sparse(t, a, mib)
	if allocated(t, a) != 0 {
		t.Skip("the file system allocates sparse files in full")
	}
	old := time.Now().Add(-10 * time.Second)
	setMtime(old)
	allocate()
	if sp.noAlloc {
		t.Skip("no fallocate here")
	}
	if got := allocated(t, a); got < mib {
		t.Fatalf("%s: %d bytes allocated after the first scan; want %d", a, got, mib)
	}

	// A file created after the scan: the dir's mtime moved.
	sparse(t, b, mib)
	allocate()
	if got := allocated(t, b); got < mib {
		t.Fatalf("%s, created after a scan: %d bytes allocated; want %d (the shortcut missed it)", b, got, mib)
	}

	// An unchanged dir is not read again (the shortcut is taken): a
	// file grown in place waits for the next full scan...
	setMtime(old)
	allocate()
	sparse(t, b, 2*mib)
	allocate()
	if got := allocated(t, b); got >= 2*mib {
		t.Fatalf("%s grown in place: allocated at once (%d bytes); the shortcut was not taken", b, got)
	}
	// ...which comes within rescanEvery.
	sp.scannedAt = sp.scannedAt.Add(-rescanEvery)
	allocate()
	if got := allocated(t, b); got < 2*mib {
		t.Fatalf("%s grown in place: %d bytes allocated after rescanEvery; want %d", b, got, 2*mib)
	}

	// A dir whose mtime is too recent to trust is read every time.
	setMtime(time.Now())
	allocate()
	sparse(t, b, 3*mib)
	allocate()
	if got := allocated(t, b); got < 3*mib {
		t.Fatalf("%s grown under a recent dir mtime: %d bytes allocated; want %d", b, got, 3*mib)
	}
}
