package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/metrics"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/notify"
)

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

// countSession is the gate's session counter, nil with metrics off.
func (o *observers) countSession() func(bastion.SessionKind) {
	if o.metrics == nil {
		return nil
	}
	return func(k bastion.SessionKind) { o.metrics.Session(string(k)) }
}

// registerer is where the gate registers its own collectors, nil with
// metrics off.
func (o *observers) registerer() prometheus.Registerer {
	if o.metrics == nil {
		return nil
	}
	return o.metrics.Registerer()
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

// loops are the observers' long-lived loops, each run until its ctx is
// done; none when nothing is configured.
func (o *observers) loops(st mpa.Store, shared bool, svc *mpa.Service, log *slog.Logger) []func(context.Context) {
	var fns []func(context.Context)
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
		fns = append(fns, func(ctx context.Context) {
			if err := metrics.Serve(ctx, o.metricsL, o.metrics.Handler(health, log)); err != nil {
				log.Error("metrics listener stopped", "err", err)
			}
		}, func(ctx context.Context) {
			if err := o.metrics.Follow(ctx, st, svc); err != nil && ctx.Err() == nil {
				log.Error("metrics stopped following the store", "err", err)
			}
		})
	}
	if o.notifier != nil {
		fns = append(fns, func(ctx context.Context) {
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
		fns = append(fns, func(ctx context.Context) {
			if err := o.auditFile.Run(ctx, st); err != nil && ctx.Err() == nil {
				log.Error("audit file stopped; events are no longer mirrored", "err", err)
			}
		})
	}
	return fns
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
		// Losing the lead ends this round; the watcher is waited for
		// before the next.
		var watcher sync.WaitGroup
		watcher.Go(func() {
			select {
			case <-l.Done():
				cancel()
			case <-lctx.Done():
			}
		})
		err = n.RunFenced(lctx, st, svc, l.Fence)
		failed := err != nil && lctx.Err() == nil
		if failed {
			log.Error("webhook notifications stopped; handing over", "err", err)
		}
		cancel()
		watcher.Wait()
		// Resign even as the server stops: another gate leads at once
		// rather than after the lease runs out.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
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
