// Package etcdtest starts a real etcd member in-process for tests, with
// go.etcd.io/etcd/server/v3/embed: loopback only, ports the kernel picks,
// data in a temp dir. Only tests import it, so the gate's binary carries
// no etcd server.
package etcdtest

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running single-member etcd.
type Server struct {
	// Endpoints are its client URLs.
	Endpoints []string
	e         *embed.Etcd
	dir       string
	tls       *TLS
	client    string // the bound client address, reused by Restart
}

// Start starts a member. Ports are ":0" on 127.0.0.1, so parallel test
// binaries never race for a port. Its ticks are short (10 ms, election
// 100 ms) so that lease expiry in tests takes seconds, not minutes.
func Start() (*Server, error) {
	dir, err := os.MkdirTemp("", "keyturn-etcd-")
	if err != nil {
		return nil, fmt.Errorf("etcdtest: %w", err)
	}
	return StartIn(dir)
}

// StartIn starts a member with its data in dir, which Stop removes.
func StartIn(dir string) (*Server, error) { return start(dir, nil) }

// TLS names the files of a member that serves clients over mutual TLS.
type TLS struct {
	CA, Cert, Key string // the CA clients must be signed by; the member's certificate and key
}

// StartTLS starts a member whose client port requires TLS and a client
// certificate signed by t.CA.
func StartTLS(t TLS) (*Server, error) {
	dir, err := os.MkdirTemp("", "keyturn-etcd-")
	if err != nil {
		return nil, fmt.Errorf("etcdtest: %w", err)
	}
	return start(dir, &t)
}

func start(dir string, tlsFiles *TLS) (*Server, error) {
	s := &Server{dir: dir, tls: tlsFiles, client: "127.0.0.1:0"}
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// run starts the member on s's dir and client address.
func (s *Server) run() error {
	dir, tlsFiles := s.dir, s.tls
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "etcdtest"
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: tlsFiles.Cert, KeyFile: tlsFiles.Key,
			TrustedCAFile: tlsFiles.CA, ClientCertAuth: true}
	}
	lc := url.URL{Scheme: scheme, Host: s.client}
	lp := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lc}, []url.URL{lc}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lp}, []url.URL{lp}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.TickMs, cfg.ElectionMs = 10, 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("etcdtest: embedded etcd not ready within 30s")
	}
	s.e = e
	s.client = e.Clients[0].Addr().String()
	s.Endpoints = []string{scheme + "://" + s.client}
	return nil
}

// Down stops the member, keeping its data: an outage (a lost quorum, as
// clients see it) until Up.
func (s *Server) Down() { s.e.Close() }

// Up starts the member again on the same client port with its data.
func (s *Server) Up() error { return s.run() }

// Stop stops the member and removes its data.
func (s *Server) Stop() {
	s.e.Close()
	os.RemoveAll(s.dir)
}
