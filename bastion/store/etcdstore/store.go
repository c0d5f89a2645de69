package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/conflict"
)

// ErrTooLarge means a transaction is over one of etcd's limits (writes per
// transaction, request size). It is not retried.
var ErrTooLarge = errors.New("etcdstore: transaction over etcd's limits")

// Options configures [Open].
type Options struct {
	// Endpoints are the etcd members' client URLs.
	Endpoints []string
	// Prefix is put before every key, so that several installations
	// share a cluster. It must end with "/".
	Prefix string
	// TLS, if set, is used for the connection (see [TLSConfig]).
	TLS *tls.Config
	// Chain names the audit chain this store appends to: the gate's
	// gate_id, so that each gate has its own (see audit.AnchorData).
	// DefaultChain when empty.
	Chain string
	// SecretKey (16, 24 or 32 bytes) seals approvers' TOTP secrets before
	// they reach etcd. Required.
	SecretKey []byte

	// Client, if set, is used instead of dialling Endpoints (tests); the
	// Store does not close it.
	Client *clientv3.Client

	DialTimeout time.Duration // 5s by default
	// SessionTTL is the lease of a membership or a leadership: how long
	// after a gate stops answering others see it gone. 10s by default.
	SessionTTL time.Duration
	// MaxTxnOps and MaxRequestBytes are the cluster's limits (128 and
	// 1.5 MiB, etcd's defaults, when zero).
	MaxTxnOps       int
	MaxRequestBytes int
	// SweepEvery is how often finished requests past their retention are
	// deleted (1 minute by default). They are hidden from reads at once.
	SweepEvery time.Duration
	// Now is the clock for retention; time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
}

// TLSConfig loads a client certificate and key and the CA that signed
// the etcd members' certificates, for mutual TLS.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	info := transport.TLSInfo{TrustedCAFile: caFile, CertFile: certFile, KeyFile: keyFile}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd TLS (ca %s, cert %s, key %s): %w", caFile, certFile, keyFile, err)
	}
	return c, nil
}

// DefaultChain is the audit chain of a store opened without Options.Chain.
const DefaultChain = "gate"

// Store is an [mpa.Store] on etcd. It is safe for concurrent use.
type Store struct {
	cli     *clientv3.Client
	ownCli  bool
	prefix  string
	chain   string
	sealer  *sealer
	log     *slog.Logger
	now     func() time.Time
	ttl     int // seconds
	maxOps  int
	maxSize int

	writes    chan struct{} // a lock that waits with a context
	closed    chan struct{}
	closeOnce sync.Once
	bg        sync.WaitGroup

	// Watches restart through watchGate, so tests can make them lose
	// their place (see export_test.go).
	wmu     sync.Mutex
	wgen    context.Context
	wcancel context.CancelFunc
	paused  chan struct{}
}

var _ mpa.Store = (*Store)(nil)

// Open connects to etcd and checks that it answers.
func Open(opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Prefix == "" || !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("open etcd store: prefix %q must be non-empty and end with /", opts.Prefix)
	}
	chain := opts.Chain
	if chain == "" {
		chain = DefaultChain
	}
	if strings.ContainsAny(chain, "/\x00") {
		return nil, fmt.Errorf("open etcd store: audit chain name %q may not hold / or NUL", chain)
	}
	sl, err := newSealer(opts.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("open etcd store: %w", err)
	}
	s := &Store{
		cli: opts.Client, prefix: opts.Prefix, chain: chain, sealer: sl, log: log, now: opts.Now,
		ttl: int(opts.SessionTTL / time.Second), maxOps: opts.MaxTxnOps, maxSize: opts.MaxRequestBytes,
		closed: make(chan struct{}), writes: make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = 10
	}
	if s.maxOps <= 0 {
		s.maxOps = 128
	}
	if s.maxSize <= 0 {
		s.maxSize = 3 << 19 // 1.5 MiB
	}
	dial := opts.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	if s.cli == nil {
		if len(opts.Endpoints) == 0 {
			return nil, fmt.Errorf("open etcd store: no endpoints")
		}
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: opts.Endpoints, DialTimeout: dial, TLS: opts.TLS,
			// Room for an update_policy transaction up to the server's limit.
			MaxCallSendMsgSize: s.maxSize + 1<<20,
			Logger:             zapNop(),
		})
		if err != nil {
			return nil, fmt.Errorf("open etcd store %v: %w", opts.Endpoints, err)
		}
		s.cli, s.ownCli = cli, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), dial)
	defer cancel()
	if _, err := s.cli.Get(ctx, s.prefix+headKey(chain)); err != nil {
		s.closeClient()
		return nil, fmt.Errorf("open etcd store %v: %w", opts.Endpoints, err)
	}
	s.wgen, s.wcancel = context.WithCancel(context.Background())
	every := opts.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	s.bg.Go(func() { s.sweepLoop(every) })
	return s, nil
}

func (s *Store) closeClient() {
	if s.ownCli {
		s.cli.Close()
	}
}

// Close stops the store's goroutines and its change feeds and closes the
// connection it opened. Memberships and leaderships should be closed
// first; if not, their leases end when the connection does.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.wmu.Lock()
		s.wcancel()
		s.wmu.Unlock()
		s.bg.Wait()
		s.closeClient()
	})
	return nil
}

// Client is the etcd client, for tools (and tests) that read raw keys.
// Writing through it bypasses the audit chain.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

// Update implements [mpa.Store]. Update calls through one Store take
// turns: every write appends to this store's audit chain, so concurrent ones
// would only conflict on its head and retry, each retry an etcd round
// trip (500 at once never settle within the retry bound). Gates sharing
// the cluster each append to their own chain, so they race each other
// only on the records they share (requests, approvers); the compares
// decide.
func (s *Store) Update(ctx context.Context, fn func(mpa.Tx) error) error {
	select {
	case s.writes <- struct{}{}:
		defer func() { <-s.writes }()
	case <-ctx.Done():
		return ctx.Err()
	}
	isConflict := func(err error) bool { return errors.Is(err, errConflict) }
	return conflict.Run(ctx, 200*time.Microsecond, isConflict, func(int) error {
		t := s.newTx(ctx, true)
		if err := fn(t); err != nil {
			return err
		}
		return t.commit()
	})
}

// View implements [mpa.Store]. A snapshot whose revision was compacted
// while fn ran fails; it is not retried, since fn may have handed out
// what it read.
func (s *Store) View(ctx context.Context, fn func(mpa.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(s.newTx(ctx, false))
}
