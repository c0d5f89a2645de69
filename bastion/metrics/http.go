package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// healthTimeout bounds the store read behind /healthz, so a wedged store
// answers 503 rather than hanging the prober.
const healthTimeout = 5 * time.Second

// Handler serves GET /metrics (Prometheus text format) and GET /healthz:
// 200 "ok" when health returns nil, 503 otherwise: "store full" when the
// store refuses writes for lack of disk space (the gate then refuses new
// sessions that need a record, and still serves reads), "store
// unavailable" for any other failure. The cause is logged, not shown.
func (m *Metrics) Handler(health func(context.Context) error, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := health(ctx); err != nil {
			log.Warn("health check failed", "err", err)
			msg := "store unavailable"
			if errors.Is(err, mpa.ErrStoreFull) {
				msg = "store full"
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// Serve serves h on l until ctx is done, then closes the listener and
// waits briefly for scrapes in flight.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// ctx is done: the shutdown gets a bound of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
