//go:build linux

package badgerstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// BenchmarkSyncFloor is the floor under a synced audit record on the disk
// that holds the test's temporary directory: what one durable 256-byte
// append costs the kernel and the device, against what one synced Badger
// transaction and one keyturn audit record cost on it. A warm session
// through the gate waits for one of these (its decision's record), so
// the gap between the gate and going direct cannot be smaller than it.
//
//   - fdatasync/fsync: append 256 bytes to a file, then sync it (the file
//     grows: a metadata change each time, as with a log on a sparse file);
//   - fdatasync-prealloc: overwrite 256 bytes inside a file whose blocks
//     are written already (no metadata to commit: the cheapest durable
//     write the filesystem has);
//   - msync: dirty one page of a shared mapping of a fallocated file and
//     msync it (how Badger syncs its memtable log);
//   - msync-clean: msync a mapping with nothing dirty (what Badger's value
//     log costs on every synced write even when the values live in the
//     LSM tree: ext4 still flushes the device's cache);
//   - badger-set: one synced badger transaction of one 256-byte entry,
//     keyturn's options (the store's Open);
//   - record: one audit record appended through the store (chain head
//     read, sealed event and head written, one transaction).
//
// Run it with
//
//	go test -run '^$' -bench SyncFloor -benchtime 300x ./bastion/store/badgerstore/
func BenchmarkSyncFloor(b *testing.B) {
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	b.Run("fdatasync", func(b *testing.B) { benchAppendSync(b, payload, unix.Fdatasync) })
	b.Run("fsync", func(b *testing.B) { benchAppendSync(b, payload, unix.Fsync) })
	b.Run("fdatasync-prealloc", func(b *testing.B) {
		f := tempFile(b)
		block := make([]byte, 1<<20)
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fsync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		off := int64(0)
		for b.Loop() {
			if _, err := f.WriteAt(payload, off); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
			off = (off + int64(len(payload))) % int64(len(block)-len(payload))
		}
	})
	b.Run("msync", func(b *testing.B) { benchMsync(b, payload, true) })
	b.Run("msync-clean", func(b *testing.B) { benchMsync(b, payload, false) })
	b.Run("badger-set", func(b *testing.B) {
		opts := badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil).
			WithMemTableSize(8 << 20).WithValueLogFileSize(16 << 20)
		db, err := badger.Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		i := 0
		for b.Loop() {
			i++
			err := db.Update(func(txn *badger.Txn) error {
				return txn.Set(fmt.Appendf(nil, "k%09d", i), payload)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("record", func(b *testing.B) {
		st, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		ctx := context.Background()
		data := []byte(`{"command":"true","verdict":"allow","key":"SHA256:0123456789abcdef0123456789abcdef0123456789a"}`)
		for b.Loop() {
			err := st.Update(ctx, func(tx mpa.Tx) error {
				_, err := tx.AppendAudit(audit.Event{Kind: audit.KindDecision, Actor: "alice", Target: "t1", Data: data})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func tempFile(b *testing.B) *os.File {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func benchAppendSync(b *testing.B, payload []byte, sync func(int) error) {
	f := tempFile(b)
	for b.Loop() {
		if _, err := f.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := sync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMsync(b *testing.B, payload []byte, dirty bool) {
	const size = 16 << 20
	f := tempFile(b)
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		b.Skipf("fallocate: %v", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(m)
	off := 0
	for b.Loop() {
		if dirty {
			copy(m[off:], payload)
			off = (off + len(payload)) % (size - len(payload))
		}
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			b.Fatal(err)
		}
	}
}
