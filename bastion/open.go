package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/metrics"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/notify"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
	"github.com/keyturn/keyturn/bastion/targets"
)

// Server is a gate assembled from its config with everything it owns: keys,
// policy, target connections, the store and the approval service.
type Server struct {
	*Gate
	Policy *PolicyHolder
	MPA    *mpa.Service
	store  ClosableStore
	member mpa.Membership
	shared bool // the store is shared with other gates (etcd)
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
		n, err := notify.New(notify.Endpoints(cfg.Webhooks), notify.Options{Logger: log, Registerer: reg, Gate: cfg.GateID})
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

// storeGauges exports the store's free space and whether it refuses
// writes for lack of it, as last checked (every write, every /healthz,
// and every few seconds).
func storeGauges(st spaceKeeper) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyturn_store_free_bytes",
			Help: "Free space on the store's file system, as last checked (-1 in memory).",
		}, func() float64 { free, _ := st.Space(); return float64(free) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyturn_store_full",
			Help: "1 while the store refuses writes because free space is below its reserve (store.reserve).",
		}, func() float64 {
			if _, full := st.Space(); full {
				return 1
			}
			return 0
		}),
	}
}

// spaceKeeper is a store that keeps a free-space reserve on its own disk
// (Badger). etcd keeps its data on its members, which watch their own.
type spaceKeeper interface {
	Space() (free int64, full bool)
	CheckSpace() error
}

// start runs every observer on ctx; wg is done when all have stopped.
func (o *observers) start(ctx context.Context, wg *sync.WaitGroup, st mpa.Store, shared bool, svc *mpa.Service, log *slog.Logger) {
	if o.metrics != nil {
		health := func(ctx context.Context) error {
			if sk, ok := st.(spaceKeeper); ok {
				if err := sk.CheckSpace(); err != nil {
					return err
				}
			}
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
			if !shared {
				if err := o.notifier.Run(ctx, st, svc); err != nil && ctx.Err() == nil {
					log.Error("webhook notifications stopped", "err", err)
				}
				return
			}
			leadWebhooks(ctx, o.notifier, st, svc, log)
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

// ClosableStore is a store the gate opens and closes.
type ClosableStore interface {
	mpa.Store
	Close() error
}

// OpenStore opens the configured store: the data dir's Badger store (only
// one process may have it open), or the etcd cluster the gates share.
func OpenStore(cfg *config.Config, log *slog.Logger) (ClosableStore, error) {
	var key []byte
	if cfg.Store.EncryptionKeyFile != "" {
		k, err := os.ReadFile(cfg.Store.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("store encryption key: %w", err)
		}
		key = k // raw key bytes, as 'head -c 32 /dev/urandom' writes them
	}
	if cfg.Store.Backend == config.BackendEtcd {
		return openEtcd(cfg, key, log)
	}
	return badgerstore.Open(badgerstore.Options{Dir: filepath.Join(cfg.DataDir, StoreDir), EncryptionKey: key, Logger: log,
		Reserve: cfg.Store.Reserve.Bytes()})
}

// openEtcd connects to the configured etcd cluster, with mutual TLS when
// configured; key seals approvers' TOTP secrets.
func openEtcd(cfg *config.Config, key []byte, log *slog.Logger) (ClosableStore, error) {
	opts := etcdstore.Options{Endpoints: cfg.Store.Endpoints, Prefix: cfg.Store.Prefix, SecretKey: key, Logger: log,
		SessionTTL: cfg.Store.LeaseTTL.Std(), Chain: cfg.GateID}
	if t := cfg.Store.TLS; t.CA != "" {
		tc, err := etcdstore.TLSConfig(t.CA, t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	return etcdstore.Open(opts)
}

// NewService returns the approval service over st with the config's roles
// and TOTP settings.
func NewService(cfg *config.Config, st mpa.Store, log *slog.Logger) *mpa.Service {
	return mpa.New(st, mpa.Options{
		Logger:           log,
		Node:             cfg.GateID, // the host name when not set
		LockoutThreshold: cfg.TOTP.LockoutThreshold,
		LockoutDuration:  cfg.TOTP.LockoutDuration.Std(),
		Issuer:           Issuer(cfg),
		CanApprove: func(user string, _ []mpa.ActionRef) bool {
			u, ok := cfg.User(user)
			return ok && u.HasRole(config.RoleApprover)
		},
		InGroup: cfg.InGroup,
	})
}

// Issuer is the otpauth issuer approvers see in their authenticator
// apps: "keyturn", or "keyturn (NAME)" for a gate with a name, so two
// gates' entries do not collide.
func Issuer(cfg *config.Config) string {
	if cfg.Name == "" {
		return "keyturn"
	}
	return "keyturn (" + cfg.Name + ")"
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
	if errs, _ := CheckApproverGroups(cfg, pol.Current()); len(errs) > 0 {
		return nil, fmt.Errorf("load policy: %s", strings.Join(errs, "; "))
	}
	st, err := OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	// One live gate per gate_id: with etcd this replaces the data dir's
	// lock (Badger's Join is trivial).
	gateID := cfg.GateID
	if gateID == "" {
		gateID = "gate" // Badger only: config requires gate_id with etcd
	}
	member, err := st.Join(context.Background(), gateID)
	if err != nil {
		st.Close()
		return nil, err
	}
	closeStore := func() { member.Close(); st.Close() }
	svc := NewService(cfg, st, log)
	// A command that was running when the gate last stopped may have run
	// in part: it is marked Interrupted and never run again by itself.
	interrupted, err := svc.RecoverInterrupted(context.Background())
	switch {
	case errors.Is(err, mpa.ErrStoreFull):
		// Left Executing they cannot run again either; the next start
		// with space marks them.
		log.Error("could not mark interrupted requests: the store is full", "err", err)
	case err != nil:
		closeStore()
		return nil, fmt.Errorf("recover interrupted requests: %w", err)
	}
	for _, r := range interrupted {
		log.Warn("request interrupted by a gate stop; not run again", "request", r.ID, "target", r.Target, "user", r.Requester)
	}
	holdPolicyChanges(pol, svc, log)
	svc.SetPolicyCheck(pol.checkRecord)
	switch err := startFromRecord(context.Background(), pol, svc, log); {
	case errors.Is(err, mpa.ErrStoreFull):
		// The policy in force is the approved one (or, with MPA off, the
		// file); only its record, or the filing of a change, waits.
		log.Error("could not record the policy or file its change: the store is full", "err", err)
	case err != nil:
		closeStore()
		return nil, fmt.Errorf("policy in force: %w", err)
	}
	pool, err := targets.NewPool(clientKey, cfg.Targets, log)
	if err != nil {
		closeStore()
		return nil, err
	}
	pool.MaxConnsPerTarget = cfg.Limits.Effective().MaxTargetConnections
	g, err := New(Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: pol, MPA: svc, Logger: log})
	if err != nil {
		pool.Close()
		closeStore()
		return nil, err
	}
	obs, err := openObservers(cfg, log)
	if err != nil {
		pool.Close()
		closeStore()
		return nil, err
	}
	obs.wire(g, pool)
	if sk, ok := st.(spaceKeeper); ok && obs.metrics != nil {
		for _, c := range storeGauges(sk) {
			if err := obs.metrics.Registerer().Register(c); err != nil {
				obs.close()
				pool.Close()
				closeStore()
				return nil, fmt.Errorf("store metrics: %w", err)
			}
		}
	}
	return &Server{Gate: g, Policy: pol, MPA: svc, store: st, member: member, shared: cfg.Store.Backend == config.BackendEtcd, pool: pool, grace: graceFrom(cfg), obs: obs}, nil
}

// Run serves on l until ctx is done, then shuts down gracefully: it stops
// accepting, lets running sessions finish within the grace period, and
// closes the target connections.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	// Every loop that reads or writes the store is owned here and waited
	// for before the store closes: none may outlive Run.
	var loops sync.WaitGroup
	defer loops.Wait()
	loops.Go(func() {
		if err := s.Policy.Watch(watchCtx); err != nil {
			s.log.Error("policy watch stopped", "err", err)
		}
	})
	loops.Go(func() {
		if err := applyApprovedPolicies(watchCtx, s.Policy, s.MPA, s.log); err != nil && watchCtx.Err() == nil {
			s.log.Error("policy updates stopped", "err", err)
		}
	})
	loops.Go(func() {
		if err := s.MPA.Run(watchCtx); err != nil && watchCtx.Err() == nil {
			s.log.Error("request expiry stopped", "err", err)
		}
	})
	if s.shared {
		loops.Go(func() { s.interruptGone(watchCtx) })
		// Each gate has its own audit chain on a shared store; anchors tie
		// them together (see audit.AnchorData).
		loops.Go(func() { s.MPA.RunAnchors(watchCtx) })
	}
	// Metrics, webhooks and the audit file read the store until it
	// closes; they are waited for, so none reads a closed store.
	var observed sync.WaitGroup
	s.obs.start(watchCtx, &observed, s.store, s.shared, s.MPA, s.log)

	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	var err error
	select {
	case err = <-served:
	case <-s.member.Done():
		// The store no longer counts this gate as live (its lease expired:
		// a partition, a long pause): another gate may take its gate_id and
		// mark its running commands interrupted. Stop serving rather than
		// act on a membership it lost; a supervisor restarts and rejoins.
		s.log.Error("store membership lost; shutting down", "node", s.MPA.Node())
		// Close the listener first and wait for Serve to return: Serve may
		// not have taken l yet, and a Shutdown racing Serve's start is
		// neither safe nor sure to stop it.
		l.Close()
		<-served // "use of closed network connection", expected
		sctx, cancel := context.WithTimeout(context.Background(), s.grace)
		err = errors.Join(errors.New("store membership lost"), s.Shutdown(sctx))
		cancel()
	case <-ctx.Done():
		s.log.Info("shutting down", "grace", s.grace)
		sctx, cancel := context.WithTimeout(context.Background(), s.grace)
		err = s.Shutdown(sctx)
		cancel()
		<-served
	}
	stopWatch()
	observed.Wait()
	loops.Wait()
	return errors.Join(err, s.pool.Close(), s.obs.close(), s.member.Close(), s.store.Close())
}

// Close releases what Open acquired, for a Server that never ran.
func (s *Server) Close() error {
	return errors.Join(s.pool.Close(), s.obs.close(), s.member.Close(), s.store.Close())
}

// goneEvery is how often a gate on a shared store looks for commands left
// running by a gate that is gone; with the membership lease (store.lease_ttl) it
// bounds how long such a request shows Executing.
const goneEvery = 2 * time.Second

// interruptGone marks Interrupted, until ctx is done, the requests that
// gates which left the store were running (see mpa.Service.InterruptGone).
func (s *Server) interruptGone(ctx context.Context) {
	t := time.NewTicker(goneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.MPA.InterruptGone(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("looking for commands of gone gates failed", "err", err)
		}
	}
}

// leadWebhooks sends webhooks only while this gate leads the "webhooks"
// election, so that gates sharing a store send each notification once
// rather than once per gate. On losing the lead it stops and campaigns
// again. The new leader resumes from the mark the old one saved (see
// notify.Notifier.Follow): nothing is lost in a handover; a notification
// may be sent twice, with the same delivery id.
func leadWebhooks(ctx context.Context, n *notify.Notifier, st mpa.Store, svc *mpa.Service, log *slog.Logger) {
	for ctx.Err() == nil {
		l, err := st.Campaign(ctx, "webhooks", svc.Node())
		if err != nil {
			if ctx.Err() == nil {
				log.Error("webhook leader election failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		log.Info("this gate sends the webhooks", "node", svc.Node())
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-l.Done():
				cancel()
			case <-lctx.Done():
			}
		}()
		err = n.RunFenced(lctx, st, svc, l.Fence)
		failed := err != nil && lctx.Err() == nil
		if failed {
			log.Error("webhook notifications stopped; handing over", "err", err)
		}
		cancel()
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		l.Resign(rctx)
		rcancel()
		if failed { // let another gate lead rather than fail again at once
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
