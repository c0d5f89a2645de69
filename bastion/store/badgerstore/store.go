package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/changefeed"
	"github.com/keyturn/keyturn/bastion/store/conflict"
)

// ErrInUse means another keyturn process (or another Open in this one)
// has the data dir open. Open's error matches it with errors.Is and reads
// "open store DIR: already in use by another keyturn process".
var ErrInUse = errors.New("badgerstore: data dir in use")

// inUseError is the message Open gives for [ErrInUse].
type inUseError struct{}

func (inUseError) Error() string        { return "already in use by another keyturn process" }
func (inUseError) Is(target error) bool { return target == ErrInUse }

// Options configures [Open].
type Options struct {
	// Dir is the data dir; created if missing. Ignored when InMemory.
	Dir string
	// InMemory keeps everything in memory (tests, demos).
	InMemory bool
	// EncryptionKey, if set, encrypts everything Badger writes with
	// AES (16, 24 or 32 bytes for AES-128/192/256). A dir written with a
	// key can only be opened with the same key.
	EncryptionKey []byte
	Logger        *slog.Logger
	// Reserve is the free space (bytes) kept on the data dir's file
	// system: below it, writes fail with mpa.ErrStoreFull and reads go on
	// (see space.go). 0 means DefaultReserve; ignored when InMemory.
	Reserve int64
}

// Store is an [mpa.Store] on Badger. It is safe for concurrent use.
type Store struct {
	db      *badger.DB
	log     *slog.Logger
	release func()
	name    string

	stopSub context.CancelFunc
	subDone chan struct{}
	closed  chan struct{}

	space *space // nil in memory

	mu         sync.Mutex
	listeners  map[*changefeed.Queue]struct{}
	members    map[string]*membership
	elections  map[string]chan struct{}
	retrying   chan struct{} // a lock that waits with a context
	readyNonce string
	ready      chan struct{}
	closeOnce  sync.Once
}

var _ mpa.Store = (*Store)(nil)

// Open opens (creating if needed) the store.
func Open(opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	name := opts.Dir
	if opts.InMemory {
		name = "(in memory)"
	}
	var bo badger.Options
	var sp *space
	release := func() {}
	if opts.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true).WithMemTableSize(16 << 20)
	} else {
		if opts.Dir == "" {
			return nil, fmt.Errorf("open store: no data dir")
		}
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
		}
		var err error
		release, err = lockDir(opts.Dir)
		if errors.Is(err, ErrInUse) {
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, inUseError{})
		}
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
		}
		reserve := opts.Reserve
		if reserve <= 0 {
			reserve = DefaultReserve
		}
		sp = &space{dir: opts.Dir, reserve: reserve, log: log, allocated: map[string]int64{}}
		// Below its reserve the store opens for reads (writes are
		// refused until space returns), as long as what Badger writes as
		// it opens fits: a new log, replayed memtables flushed at once.
		// On a disk fuller than that Badger would die of SIGBUS, so the
		// store is not opened at all.
		if err := sp.check(false); err != nil {
			var full *StoreFullError
			if !errors.As(err, &full) || full.Free < openMinimum {
				release()
				if full != nil {
					err = &StoreFullError{Dir: opts.Dir, Free: full.Free, Need: openMinimum}
				}
				return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
			}
			log.Error("store opened below its reserve: reads only, until space is freed", "dir", opts.Dir,
				"free_bytes", full.Free, "reserve_bytes", reserve)
		}
		bo = badger.DefaultOptions(opts.Dir).WithMemTableSize(memTableSize).WithValueLogFileSize(valueLogFileSize)
	}
	bo = bo.WithSyncWrites(true).WithLogger(badgerLogger{log})
	if len(opts.EncryptionKey) > 0 {
		switch len(opts.EncryptionKey) {
		case 16, 24, 32:
		default:
			release()
			return nil, fmt.Errorf("open store %s: encryption key is %d bytes, want 16, 24 or 32", name, len(opts.EncryptionKey))
		}
		// Badger requires an index cache with encryption, or it would keep
		// decrypted indexes of every table in memory.
		bo = bo.WithEncryptionKey(opts.EncryptionKey).WithIndexCacheSize(64 << 20)
	}
	db, err := badger.Open(bo)
	if err != nil {
		release()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if sp != nil {
		// The log Badger just created is allocated before the first write.
		sp.mu.Lock()
		if err := sp.allocate(); err != nil {
			log.Warn("allocate store logs", "dir", opts.Dir, "err", err)
		}
		sp.mu.Unlock()
	}
	s := &Store{
		db:        db,
		log:       log,
		release:   release,
		name:      name,
		closed:    make(chan struct{}),
		subDone:   make(chan struct{}),
		listeners: map[*changefeed.Queue]struct{}{},
		space:     sp,
		members:   map[string]*membership{},
		elections: map[string]chan struct{}{},
		retrying:  make(chan struct{}, 1),
	}
	if err := s.buildLiveIndex(); err != nil {
		db.Close()
		release()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if err := s.subscribe(); err != nil {
		db.Close()
		release()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if sp != nil {
		go sp.watch(s.closed)
	}
	return s, nil
}

// Close stops change delivery and closes the database, releasing the dir.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.stopSub()
		<-s.subDone
		if s.space != nil {
			s.space.beforeClose()
		}
		err = s.db.Close()
		s.release()
	})
	if err != nil {
		return fmt.Errorf("close store %s: %w", s.name, err)
	}
	return nil
}

// DB returns the underlying Badger database, for offline tools that
// inspect raw keys. Writing through it bypasses the audit chain.
func (s *Store) DB() *badger.DB { return s.db }

// Update implements [mpa.Store]: it runs fn in a read-write transaction
// and retries it on badger.ErrConflict, up to a bound. The first attempt
// runs at once; retries take turns (retrying), since every write appends
// to the one audit chain and a crowd of retriers would only conflict on
// its head again (500 at once did not settle within the bound).
func (s *Store) Update(ctx context.Context, fn func(mpa.Tx) error) error {
	locked := false
	defer func() {
		if locked {
			<-s.retrying
		}
	}()
	isConflict := func(err error) bool { return errors.Is(err, badger.ErrConflict) }
	return conflict.Run(ctx, 50*time.Microsecond, isConflict, func(attempt int) error {
		if attempt == 2 {
			select {
			case s.retrying <- struct{}{}:
				locked = true
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if s.space != nil {
			if err := s.space.check(true); err != nil {
				return fmt.Errorf("write to store: %w", err)
			}
		}
		err := s.db.Update(func(txn *badger.Txn) error { return fn(&tx{txn: txn, s: s}) })
		if s.space != nil && noSpace(err) {
			free, _ := freeBytes(s.space.dir)
			return fmt.Errorf("write to store: %w: %w", &StoreFullError{Dir: s.space.dir, Free: free, Need: s.space.reserve}, err)
		}
		return err
	})
}

// View implements [mpa.Store].
func (s *Store) View(ctx context.Context, fn func(mpa.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(txn *badger.Txn) error { return fn(&tx{txn: txn, s: s}) })
}

// buildLiveIndex indexes the live requests of a store written before the
// index existed, once. Open holds the data dir's lock, so nothing writes
// meanwhile; batches keep each transaction within Badger's size limit.
func (s *Store) buildLiveIndex() error {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(keyLiveIndex)
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("live index: %w", err)
	}
	var live []string
	err = s.db.View(func(txn *badger.Txn) error {
		t := &tx{txn: txn, s: s}
		for r, err := range t.Requests() {
			if err != nil {
				return err
			}
			if !r.Status.Final() {
				live = append(live, r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("live index: %w", err)
	}
	for len(live) > 0 {
		n := min(len(live), 1000)
		batch := live[:n]
		live = live[n:]
		err := s.db.Update(func(txn *badger.Txn) error {
			for _, id := range batch {
				if err := txn.Set(liveKey(id), []byte("true")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("live index: %w", err)
		}
	}
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyLiveIndex, []byte("v1")) })
}
