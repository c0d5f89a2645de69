package etcdstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// server is one embedded etcd member per test binary (see etcdtest).
// Each test gets its own key prefix, so tests share the server but never
// each other's data.
var server struct {
	endpoints []string
	err       error
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
	srv, err := etcdtest.Start()
	if err == nil {
		server.endpoints = srv.Endpoints
	}
	server.err = err
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
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
