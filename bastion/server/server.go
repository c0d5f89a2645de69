package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/targets"
)

// Server is a gate assembled from its config with everything it owns: keys,
// policy, target connections, the store and the approval service.
type Server struct {
	// Gate is the SSH transport; the server hands it the parts below.
	Gate *bastion.Gate
	// Policy is the policy in force; policy keeps it in step with the
	// file and the store.
	Policy *bastion.PolicyHolder
	policy *bastion.PolicyController
	MPA    *mpa.Service
	cfg    *config.Config
	log    *slog.Logger
	store  ClosableStore
	member mpa.Membership
	shared bool // the store is shared with other gates (etcd)
	pool   *targets.Pool
	grace  time.Duration
	obs    *observers
	// approvalOffEvery is Options.ApprovalOffEvery.
	approvalOffEvery time.Duration
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

// Options are what Open takes beside the config.
type Options struct {
	Logger *slog.Logger
	// Console is what a login with a terminal and no command opens; nil
	// leaves such a login the mpa commands (cmd/keyturn passes the tui
	// package's: the gate knows no UI).
	Console bastion.Console
	// ApprovalOffEvery is how often Run repeats the warning that
	// multi-party approval is off, while it is; 0 never repeats it.
	ApprovalOffEvery time.Duration
}

// Open assembles a gate from cfg, creating its keys on first start; ctx
// bounds what it does in the store while starting (joining, recovering
// interrupted requests, the policy on record).
func Open(ctx context.Context, cfg *config.Config, o Options) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.HostKeyFile))
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	clientKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.ClientKeyFile))
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	pol, err := bastion.LoadPolicy(cfg.Policies, log)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	if errs, _ := bastion.CheckApproverGroups(cfg, pol.Current()); len(errs) > 0 {
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
	member, err := st.Join(ctx, gateID)
	if err != nil {
		st.Close()
		return nil, err
	}
	closeStore := func() { member.Close(); st.Close() }
	svc := bastion.NewService(cfg, st, log)
	// A command that was running when the gate last stopped may have run
	// in part: it is marked Interrupted and never run again by itself.
	interrupted, err := svc.RecoverInterrupted(ctx)
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
	ctl := bastion.NewPolicyController(pol, svc, log)
	svc.SetPolicyCheck(ctl.CheckRecord)
	switch err := ctl.Start(ctx); {
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
	obs, err := openObservers(cfg, log)
	if err != nil {
		pool.Close()
		closeStore()
		return nil, err
	}
	if obs.metrics != nil {
		pool.OnDialError = obs.metrics.DialError
	}
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
	g, err := bastion.New(bastion.Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: pol, MPA: svc, Logger: log,
		Console: o.Console, CountSession: obs.countSession(), Registerer: obs.registerer()})
	if err != nil {
		obs.close()
		pool.Close()
		closeStore()
		return nil, err
	}
	return &Server{Gate: g, Policy: pol, policy: ctl, MPA: svc, cfg: cfg, log: log, store: st, member: member,
		shared: cfg.Store.Backend == config.BackendEtcd, pool: pool, grace: graceFrom(cfg), obs: obs,
		approvalOffEvery: o.ApprovalOffEvery}, nil
}

// graceFrom returns the shutdown grace period from the config.
func graceFrom(cfg *config.Config) time.Duration {
	if d := cfg.ShutdownGrace.Std(); d > 0 {
		return d
	}
	return config.DefaultShutdownGrace
}

// Run serves on l until ctx is done, then shuts down gracefully: it stops
// accepting, lets running sessions finish within the grace period, and
// closes the target connections. Every loop that reads or writes the
// store is started here, in layers (see loops), and waited for before the
// store closes: none outlives Run.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	var ls loops
	// Stopped in reverse: warnings, observers, request loops, policy.
	defer ls.stop()
	ls.start(ctx, func(ctx context.Context) {
		// The controller logs each of its loops' failures as it
		// happens; the gate serves on with the policy in force.
		_ = s.policy.Run(ctx)
	})
	ls.start(ctx, func(ctx context.Context) {
		if err := s.MPA.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("request expiry stopped", "err", err)
		}
	}, func(ctx context.Context) {
		if s.shared {
			s.interruptGone(ctx)
		}
	}, func(ctx context.Context) {
		// Each gate has its own audit chain on a shared store; anchors
		// tie them together (see audit.AnchorData).
		if s.shared {
			s.MPA.RunAnchors(ctx)
		}
	})
	// Metrics, webhooks and the audit file read the store until it
	// closes; they are waited for, so none reads a closed store.
	ls.start(ctx, s.obs.loops(s.store, s.shared, s.MPA, s.log)...)
	ls.start(ctx, func(ctx context.Context) {
		if s.approvalOffEvery > 0 {
			s.warnWhileApprovalOff(ctx, s.approvalOffEvery)
		}
	})

	served := make(chan error, 1)
	go func() { served <- s.Gate.Serve(l) }()

	// The grace period runs after ctx is done, so it is counted from a
	// context that keeps ctx's values but not its end.
	graceCtx := context.WithoutCancel(ctx)
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
		sctx, cancel := context.WithTimeout(graceCtx, s.grace)
		err = errors.Join(errors.New("store membership lost"), s.Gate.Shutdown(sctx))
		cancel()
	case <-ctx.Done():
		s.log.Info("shutting down", "grace", s.grace)
		sctx, cancel := context.WithTimeout(graceCtx, s.grace)
		err = s.Gate.Shutdown(sctx)
		cancel()
		<-served
	}
	// gliderlabs' Shutdown waits for connections, not for the session
	// handlers: one may still be recording a released command's outcome.
	// Closing the target connections ends a handler that waits on its
	// target (its outcome is recorded as interrupted); then the gate waits,
	// bounded, for them all before the store can close.
	perr := s.pool.Close()
	hctx, cancel := context.WithTimeout(graceCtx, handlerDrain)
	s.Gate.WaitHandlers(hctx)
	cancel()
	ls.stop()
	// The store closes last: after the gate and its handlers, every loop,
	// the target connections and the observers' files.
	return errors.Join(err, perr, s.obs.close(), s.member.Close(), s.store.Close())
}

// handlerDrain bounds the wait for session handlers at stop, after the
// grace period and the target connections' close: what is left then is a
// handler blocked on something else, and the next start marks its request
// interrupted.
const handlerDrain = 10 * time.Second

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
	every(ctx, goneEvery, func() {
		if _, err := s.MPA.InterruptGone(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("looking for commands of gone gates failed", "err", err)
		}
	})
}
