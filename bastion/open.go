package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/targets"
)

// Server is a gate assembled from its config with everything it owns: keys,
// policy, target connections.
type Server struct {
	*Gate
	Policy *PolicyHolder
	pool   *targets.Pool
	grace  time.Duration
}

// Open assembles a gate from cfg, creating its keys on first start.
func Open(cfg *config.Config, log *slog.Logger) (*Server, error) {
	hostKey, err := LoadOrCreateKey(filepath.Join(cfg.DataDir, HostKeyFile))
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	clientKey, err := LoadOrCreateKey(filepath.Join(cfg.DataDir, ClientKeyFile))
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	pol, err := LoadPolicy(cfg.Policies, log)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	pool, err := targets.NewPool(clientKey, cfg.Targets, log)
	if err != nil {
		return nil, err
	}
	g, err := New(Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: pol, Logger: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Server{Gate: g, Policy: pol, pool: pool, grace: GraceFrom(cfg)}, nil
}

// Run serves on l until ctx is done, then shuts down gracefully: it stops
// accepting, lets running sessions finish within the grace period, and
// closes the target connections.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		if err := s.Policy.Watch(watchCtx); err != nil {
			s.log.Error("policy watch stopped", "err", err)
		}
	}()

	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		s.log.Info("shutting down", "grace", s.grace)
		sctx, cancel := context.WithTimeout(context.Background(), s.grace)
		err = s.Shutdown(sctx)
		cancel()
		<-served
	}
	return errors.Join(err, s.pool.Close())
}
