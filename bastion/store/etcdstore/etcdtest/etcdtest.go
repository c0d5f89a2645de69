// Package etcdtest starts a real etcd member in-process for tests, with
// go.etcd.io/etcd/server/v3/embed: loopback only, ports the kernel picks,
// data in a temp dir. Only tests import it, so the gate's binary carries
// no etcd server.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
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
	client    string // the bound client address, reused by Up

	// Set for a member of a Cluster.
	name, peer, initial string
	down                bool
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
	if s.name != "" {
		cfg.Name = s.name
	}
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: tlsFiles.Cert, KeyFile: tlsFiles.Key,
			TrustedCAFile: tlsFiles.CA, ClientCertAuth: true}
	}
	lc := url.URL{Scheme: scheme, Host: s.client}
	lp := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	if s.peer != "" {
		lp.Host = s.peer
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lc}, []url.URL{lc}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lp}, []url.URL{lp}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if s.initial != "" {
		cfg.InitialCluster = s.initial
	}
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
func (s *Server) Down() {
	s.e.Close()
	s.down = true
}

// Up starts the member again on the same client port with its data.
func (s *Server) Up() error {
	if err := s.run(); err != nil {
		return err
	}
	s.down = false
	return nil
}

// Stop stops the member and removes its data.
func (s *Server) Stop() {
	if !s.down {
		s.e.Close()
	}
	os.RemoveAll(s.dir)
}

// Cluster is several members on loopback, for tests of member loss.
type Cluster struct {
	Members []*Server
	// Endpoints are every member's client URL.
	Endpoints []string
}

// StartCluster starts n members. Client ports are chosen by the kernel;
// peer ports, which every member must know before any starts, are found
// free just before the start, and the start is retried with new ones if
// another process took one meanwhile.
func StartCluster(n int) (*Cluster, error) {
	var lastErr error
	for range 3 {
		c, err := startCluster(n)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startCluster(n int) (*Cluster, error) {
	c := &Cluster{}
	var initial []string
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: peer port: %w", err)
		}
		peer := l.Addr().String()
		l.Close()
		dir, err := os.MkdirTemp("", "keyturn-etcd-")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: %w", err)
		}
		m := &Server{dir: dir, client: "127.0.0.1:0", name: fmt.Sprintf("m%d", i), peer: peer}
		c.Members = append(c.Members, m)
		initial = append(initial, m.name+"=http://"+peer)
	}
	errs := make(chan error, n)
	for _, m := range c.Members {
		m.initial = strings.Join(initial, ",")
		go func() { errs <- m.run() }()
	}
	var failed error
	for range n {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		for _, m := range c.Members {
			if m.e != nil {
				m.e.Close()
			}
			os.RemoveAll(m.dir)
		}
		return nil, failed
	}
	for _, m := range c.Members {
		c.Endpoints = append(c.Endpoints, m.Endpoints...)
	}
	return c, nil
}

// Stop stops every member and removes their data.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// StartMember starts one member of a cluster whose members run in
// separate processes: its data in dir (kept across a restart: a member
// started again on the same dir rejoins with its data), its client and
// peer addresses fixed (host:port on loopback), initial the cluster's
// "name=http://peer,..." list.
func StartMember(dir, name, client, peer, initial string) (*Server, error) {
	s := &Server{dir: dir, client: client, name: name, peer: peer, initial: initial}
	if err := s.run(); err != nil {
		return nil, err
	}
	return s, nil
}
