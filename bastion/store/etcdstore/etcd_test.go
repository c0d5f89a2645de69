package etcdstore

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// server is one embedded etcd member per test binary, on loopback ports
// the kernel picks (":0"), in a temp dir. Each test gets its own key
// prefix, so tests share the server but never each other's data.
var server struct {
	once      sync.Once
	endpoints []string
	err       error
	stop      func()
}

func startEtcd(dir string) ([]string, func(), error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "storetest"
	lc := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	lp := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lc}, []url.URL{lc}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lp}, []url.URL{lp}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// A fast tick keeps lease expiry (the lease-loss tests) short.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, nil, fmt.Errorf("embedded etcd not ready within 30s")
	}
	return []string{"http://" + e.Clients[0].Addr().String()}, e.Close, nil
}

var prefixes atomic.Int64

func testKey() []byte { return []byte("0123456789abcdef0123456789abcdef") }

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newClient dials the shared server.
func newClient(t testing.TB) *clientv3.Client {
	t.Helper()
	if server.err != nil {
		t.Fatal(server.err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: server.endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// openOn opens a store on its own client (a second gate) under prefix.
func openOn(t testing.TB, prefix string, opts Options) *Store {
	t.Helper()
	opts.Client = newClient(t)
	opts.Prefix = prefix
	if opts.SecretKey == nil {
		opts.SecretKey = testKey()
	}
	if opts.Logger == nil {
		opts.Logger = logger(t)
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 2 * time.Second
	}
	if opts.SweepEvery == 0 {
		opts.SweepEvery = 200 * time.Millisecond
	}
	st, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func freshPrefix() string { return fmt.Sprintf("/keyturn-test/%d/", prefixes.Add(1)) }

func TestMain(m *testing.M) {
	dir, err := tempDir()
	if err == nil {
		server.endpoints, server.stop, server.err = startEtcd(dir)
	} else {
		server.err = err
	}
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	removeAll(dir)
	exit(code)
}

func compact(t *testing.T, st *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := st.cli.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

var _ mpa.Store = (*Store)(nil)
