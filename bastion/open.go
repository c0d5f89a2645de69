package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/metrics"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/notify"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/targets"
)

// Server is a gate assembled from its config with everything it owns: keys,
// policy, target connections, the store and the approval service.
type Server struct {
	*Gate
	Policy *PolicyHolder
	MPA    *mpa.Service
	store  *badgerstore.Store
	pool   *targets.Pool
	grace  time.Duration
	obs    *observers
}

// observers are the optional consumers of the store's change feed:
// metrics, webhooks and the audit file. Each is nil when not configured.
type observers struct {
	metrics   *metrics.Metrics
	metricsL  net.Listener
	notifier  *notify.Notifier
	mirror    *audit.Mirror
	auditFile *notify.AuditFile
}

// openObservers binds the metrics listener and opens the audit file, so
// that a bad address or an unwritable file stops the gate at start rather
// than going unnoticed.
func openObservers(cfg *config.Config, log *slog.Logger) (*observers, error) {
	o := &observers{}
	var reg prometheus.Registerer
	if cfg.Metrics.Listen != "" {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
		o.metrics, o.metricsL = metrics.New(), l
		reg = o.metrics.Registerer()
	}
	if len(cfg.Webhooks) > 0 {
		n, err := notify.New(notify.Endpoints(cfg.Webhooks), notify.Options{Logger: log, Registerer: reg})
		if err != nil {
			o.close()
			return nil, err
		}
		o.notifier = n
	}
	if cfg.Audit.File != "" {
		m, err := audit.OpenMirror(cfg.Audit.File)
		if err != nil {
			o.close()
			return nil, err
		}
		o.mirror, o.auditFile = m, notify.NewAuditFile(m, log)
	}
	return o, nil
}

// wire hooks the gate's direct counters (sessions, dial errors) to the
// metrics.
func (o *observers) wire(g *Gate, pool *targets.Pool) {
	if o.metrics == nil {
		return
	}
	pool.OnDialError = o.metrics.DialError
	g.Use(countSessions(o.metrics.Session))
	if err := g.conns.register(o.metrics.Registerer()); err != nil {
		g.log.Error("client connection metrics not registered", "err", err)
	}
}

// start runs every observer on ctx; wg is done when all have stopped.
func (o *observers) start(ctx context.Context, wg *sync.WaitGroup, st *badgerstore.Store, svc *mpa.Service, log *slog.Logger) {
	if o.metrics != nil {
		health := func(ctx context.Context) error {
			return st.View(ctx, func(tx mpa.Tx) error { _, err := tx.GetSettings(); return err })
		}
		log.Info("metrics listening", "address", o.metricsL.Addr().String())
		wg.Go(func() {
			if err := metrics.Serve(ctx, o.metricsL, o.metrics.Handler(health, log)); err != nil {
				log.Error("metrics listener stopped", "err", err)
			}
		})
		wg.Go(func() {
			if err := o.metrics.Follow(ctx, st, svc); err != nil && ctx.Err() == nil {
				log.Error("metrics stopped following the store", "err", err)
			}
		})
	}
	if o.notifier != nil {
		wg.Go(func() {
			if err := o.notifier.Run(ctx, st, svc); err != nil && ctx.Err() == nil {
				log.Error("webhook notifications stopped", "err", err)
			}
		})
	}
	if o.auditFile != nil {
		wg.Go(func() {
			if err := o.auditFile.Run(ctx, st); err != nil && ctx.Err() == nil {
				log.Error("audit file stopped; events are no longer mirrored", "err", err)
			}
		})
	}
}

// close releases what openObservers acquired.
func (o *observers) close() error {
	var errs []error
	if o.metricsL != nil {
		if err := o.metricsL.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if o.mirror != nil {
		errs = append(errs, o.mirror.Close())
	}
	return errors.Join(errs...)
}

// MetricsAddr is the address the metrics listener is bound to, or nil
// with metrics off: with "metrics.listen: 127.0.0.1:0" the port the
// system chose.
func (s *Server) MetricsAddr() net.Addr {
	if s.obs.metricsL == nil {
		return nil
	}
	return s.obs.metricsL.Addr()
}

// StoreDir is the store's folder inside the data dir.
const StoreDir = "store"

// OpenStore opens the data dir's store; only one process may have it open.
func OpenStore(cfg *config.Config, log *slog.Logger) (*badgerstore.Store, error) {
	var key []byte
	if cfg.Store.EncryptionKeyFile != "" {
		k, err := os.ReadFile(cfg.Store.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("store encryption key: %w", err)
		}
		key = k // raw key bytes, as 'head -c 32 /dev/urandom' writes them
	}
	return badgerstore.Open(badgerstore.Options{Dir: filepath.Join(cfg.DataDir, StoreDir), EncryptionKey: key, Logger: log})
}

// NewService returns the approval service over st with the config's roles
// and TOTP settings.
func NewService(cfg *config.Config, st mpa.Store, log *slog.Logger) *mpa.Service {
	return mpa.New(st, mpa.Options{
		Logger:           log,
		LockoutThreshold: cfg.TOTP.LockoutThreshold,
		LockoutDuration:  cfg.TOTP.LockoutDuration.Std(),
		CanApprove: func(user string, _ []mpa.ActionRef) bool {
			u, ok := cfg.User(user)
			return ok && u.HasRole(config.RoleApprover)
		},
	})
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
	st, err := OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	svc := NewService(cfg, st, log)
	// A command that was running when the gate last stopped may have run
	// in part: it is marked Interrupted and never run again by itself.
	interrupted, err := svc.RecoverInterrupted(context.Background())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("recover interrupted requests: %w", err)
	}
	for _, r := range interrupted {
		log.Warn("request interrupted by a gate stop; not run again", "request", r.ID, "target", r.Target, "user", r.Requester)
	}
	holdPolicyChanges(pol, svc, log)
	if err := startFromRecord(context.Background(), pol, svc, log); err != nil {
		st.Close()
		return nil, fmt.Errorf("policy in force: %w", err)
	}
	pool, err := targets.NewPool(clientKey, cfg.Targets, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	pool.MaxConnsPerTarget = cfg.Limits.Effective().MaxTargetConnections
	g, err := New(Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: pol, MPA: svc, Logger: log})
	if err != nil {
		pool.Close()
		st.Close()
		return nil, err
	}
	obs, err := openObservers(cfg, log)
	if err != nil {
		pool.Close()
		st.Close()
		return nil, err
	}
	obs.wire(g, pool)
	return &Server{Gate: g, Policy: pol, MPA: svc, store: st, pool: pool, grace: graceFrom(cfg), obs: obs}, nil
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

	go func() {
		if err := applyApprovedPolicies(watchCtx, s.Policy, s.MPA, s.log); err != nil && watchCtx.Err() == nil {
			s.log.Error("policy updates stopped", "err", err)
		}
	}()
	go func() {
		if err := s.MPA.Run(watchCtx); err != nil && watchCtx.Err() == nil {
			s.log.Error("request expiry stopped", "err", err)
		}
	}()
	// Metrics, webhooks and the audit file read the store until it
	// closes; they are waited for, so none reads a closed store.
	var observed sync.WaitGroup
	s.obs.start(watchCtx, &observed, s.store, s.MPA, s.log)

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
	stopWatch()
	observed.Wait()
	return errors.Join(err, s.pool.Close(), s.obs.close(), s.store.Close())
}

// Close releases what Open acquired, for a Server that never ran.
func (s *Server) Close() error {
	return errors.Join(s.pool.Close(), s.obs.close(), s.store.Close())
}
