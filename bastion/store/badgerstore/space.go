package badgerstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Why the store watches free space: Badger writes its write-ahead log
// (the .mem files), its tables and its discard stats through memory
// mappings of files it creates sparse. When the file system is full, a
// store into a page that has no block behind it is not an error Badger
// can return: the kernel raises SIGBUS and the Go runtime kills the
// process, at every start too (replayed memtables are flushed at once).
// So the store
//
//   - keeps a reserve: before every write it checks the file system's free
//     space (statfs) and refuses the write (mpa.ErrStoreFull) when less than
//     Options.Reserve is left; what Badger does in the background (a
//     memtable flush, a compaction, a close) then has the reserve to use;
//   - allocates the blocks of each memory-mapped log file it finds
//     (fallocate), so a write into them can fail only before it starts,
//     never with SIGBUS halfway, even when something else fills the disk;
//   - keeps a ballast file of ballastSize allocated bytes in the data dir,
//     and deletes it the moment a check finds the reserve gone (something
//     else filled the disk after the last check) or the store closes short
//     of space: Badger's pending flush, compaction or final flush then
//     has room. Writing resumes only once the reserve and the ballast fit
//     again, and the ballast is laid down again first;
//   - keeps serving reads, and writes again as soon as a check finds the
//     space back.

// DefaultReserve is the free space kept when Options.Reserve is 0.
const DefaultReserve = 128 << 20

// Badger sizes for a store on disk, smaller than Badger's defaults: the
// write-ahead log of one memtable is a 2*memTableSize file allocated in
// full, and a flush writes one table of up to memTableSize, both out of
// the reserve. Records stay below the value threshold (mpa bounds them),
// so the value log is never written beyond its header.
const (
	memTableSize     = 8 << 20
	valueLogFileSize = 16 << 20
	// ballastSize covers a memtable flush and a little more.
	ballastSize = 3 * memTableSize
	ballastName = "keyturn.ballast"
	// openMinimum is the free space Badger needs to open: a new log
	// allocated in full, and the flush of memtables replayed from disk.
	openMinimum = 2*memTableSize + ballastSize
	// watchEvery is how often the store checks its space between writes.
	watchEvery = 2 * time.Second
)

// StoreFullError is the error for a write refused for lack of space. It
// matches mpa.ErrStoreFull with errors.Is.
type StoreFullError struct {
	Dir string
	// Free is what the file system has left; Need is what the store
	// keeps free (its reserve, plus its ballast if that was spent).
	Free, Need int64
}

func (e *StoreFullError) Error() string {
	return fmt.Sprintf("store %s: %d MiB free, below the %d MiB the store keeps in reserve: refusing writes until space is freed",
		e.Dir, e.Free>>20, e.Need>>20)
}

// Is makes errors.Is(err, mpa.ErrStoreFull) true.
func (e *StoreFullError) Is(target error) bool { return target == mpa.ErrStoreFull }

// space tracks a data dir's free space and the log files it has allocated.
type space struct {
	dir     string
	reserve int64
	log     *slog.Logger

	mu        sync.Mutex
	allocated map[string]int64 // file name -> size allocated
	full      bool             // the last check found less than the reserve
	free      int64            // what the last check found
	noAlloc   bool             // the file system cannot fallocate
	ballast   bool             // the ballast file is in place

	// The data dir as the last full scan of allocate found it: its
	// modification time, and when the scan started. A write skips the
	// scan (a directory read and a stat per file: a tenth of a synced
	// record's time) while they show that no file was created since.
	scannedMtime time.Time
	scannedAt    time.Time
}

// Bounds on allocate's shortcut. A directory's modification time comes
// from the kernel's coarse clock (a tick behind at most), so it shows a
// file created since the scan only if the time it had then is safely
// older than the scan: racyMtime. Badger also grows its discard-stats
// file in place (no new name); a full scan at least every rescanEvery
// allocates that, as the watch loop's checks do for the reserve.
const (
	racyMtime   = time.Second
	rescanEvery = watchEvery
)

// needed is the free space a write needs: the reserve, and room to lay the
// ballast down again if it was spent.
func (sp *space) needed() int64 {
	if sp.ballast || sp.noAlloc {
		return sp.reserve
	}
	return sp.reserve + ballastSize
}

// layBallast allocates the ballast file; a failure only leaves the store
// without one (logged by the caller's next check).
func (sp *space) layBallast() error {
	if sp.noAlloc {
		return nil
	}
	path := filepath.Join(sp.dir, ballastName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	err = fallocate(path, ballastSize)
	if errors.Is(err, errNoFallocate) {
		sp.noAlloc = true
		os.Remove(path)
		return nil
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	sp.ballast = true
	return nil
}

// spendBallast deletes the ballast, giving its space to Badger's
// background work.
func (sp *space) spendBallast() {
	if !sp.ballast {
		return
	}
	if err := os.Remove(filepath.Join(sp.dir, ballastName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		sp.log.Error("remove store ballast", "dir", sp.dir, "err", err)
		return
	}
	sp.ballast = false
	sp.log.Warn("store ballast released for the store's own flushes", "dir", sp.dir, "bytes", ballastSize)
}

// Space reports the data dir's free bytes as last checked and whether
// writes are refused for lack of space. In memory, free is -1.
func (s *Store) Space() (free int64, full bool) {
	if s.space == nil {
		return -1, false
	}
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	return s.space.free, s.space.full
}

// CheckSpace checks the free space now, as a write would, and returns a
// *StoreFullError (or the statfs error) if a write would be refused. It
// is what /healthz calls.
func (s *Store) CheckSpace() error {
	if s.space == nil {
		return nil
	}
	return s.space.check(false)
}

// check refuses a write when free space is under the reserve; with
// alloc, it first allocates the blocks of every new memory-mapped file
// Badger created, so that the write cannot meet a hole.
func (sp *space) check(alloc bool) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var err error
	if alloc {
		err = sp.allocate()
	}
	free, serr := freeBytes(sp.dir)
	if serr != nil {
		// Fail closed: a store that cannot tell whether it has room
		// does not write.
		return fmt.Errorf("check free space of %s: %w", sp.dir, serr)
	}
	if err == nil && free < sp.needed() {
		err = &StoreFullError{Dir: sp.dir, Free: free, Need: sp.needed()}
	}
	if err == nil && !sp.ballast && !sp.noAlloc {
		if berr := sp.layBallast(); berr != nil {
			err = fmt.Errorf("lay store ballast: %w", berr)
			if noSpace(berr) {
				err = &StoreFullError{Dir: sp.dir, Free: free, Need: sp.needed()}
			}
		} else if free, serr = freeBytes(sp.dir); serr != nil {
			return fmt.Errorf("check free space of %s: %w", sp.dir, serr)
		}
	}
	if err != nil && free < sp.reserve {
		sp.spendBallast()
		if f, serr := freeBytes(sp.dir); serr == nil {
			free = f
		}
	}
	sp.free = free
	switch full := err != nil; {
	case full && !sp.full:
		sp.log.Error("store full: refusing new records (sessions that need one are refused; reads go on) until space is freed",
			"dir", sp.dir, "free_bytes", free, "reserve_bytes", sp.reserve, "err", err)
	case !full && sp.full:
		sp.log.Warn("store has space again: writing records", "dir", sp.dir, "free_bytes", free, "reserve_bytes", sp.reserve)
	}
	sp.full = err != nil
	return err
}

// allocate gives every memory-mapped file of the store (write-ahead logs,
// discard stats) real blocks up to its size. A file it cannot allocate
// means the disk is full: a *StoreFullError.
func (sp *space) allocate() error {
	if sp.noAlloc {
		return nil
	}
	now := time.Now()
	dirInfo, err := os.Stat(sp.dir)
	if err != nil {
		return fmt.Errorf("stat store dir: %w", err)
	}
	mtime := dirInfo.ModTime()
	if !sp.scannedAt.IsZero() && mtime.Equal(sp.scannedMtime) &&
		sp.scannedAt.Sub(mtime) > racyMtime && now.Sub(sp.scannedAt) < rescanEvery {
		return nil // no file created since a scan that allocated them all
	}
	sp.scannedAt = time.Time{}
	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return fmt.Errorf("read store dir: %w", err)
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") && name != "DISCARD" {
			continue
		}
		seen[name] = true
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		if sp.allocated[name] >= info.Size() {
			continue
		}
		err = fallocate(filepath.Join(sp.dir, name), info.Size())
		switch {
		case errors.Is(err, syscall.ENOSPC):
			free, _ := freeBytes(sp.dir)
			return &StoreFullError{Dir: sp.dir, Free: free, Need: sp.needed()}
		case errors.Is(err, errNoFallocate):
			sp.noAlloc = true
			return nil
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return fmt.Errorf("allocate %s: %w", name, err)
		}
		sp.allocated[name] = info.Size()
	}
	for name := range sp.allocated {
		if !seen[name] {
			delete(sp.allocated, name)
		}
	}
	sp.scannedMtime, sp.scannedAt = mtime, now
	return nil
}

// errNoFallocate means the file system does not support fallocate; the
// reserve alone then guards the store.
var errNoFallocate = errors.New("fallocate not supported")

// noSpace reports whether err is the file system saying it is full.
func noSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) }

// watch checks the space every watchEvery until stop is closed, so that
// /healthz and the metrics see a full disk, and the ballast is spent,
// between writes too.
func (sp *space) watch(stop <-chan struct{}) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			sp.check(false)
		}
	}
}

// beforeClose spends the ballast if the disk is short of the reserve:
// closing flushes the memtable to a new table.
func (sp *space) beforeClose() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if free, err := freeBytes(sp.dir); err != nil || free < sp.reserve {
		sp.spendBallast()
	}
}
