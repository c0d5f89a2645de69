package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Options configures a [Notifier]. Zero fields take the defaults.
type Options struct {
	Logger *slog.Logger // slog.Default() by default
	// Registerer receives the webhook metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// Client sends the POSTs; by default one that does not follow
	// redirects (a signed body goes only where it was configured to).
	Client *http.Client
	// Backoff is the wait before retry attempt+1; [Backoff] by default.
	Backoff func(attempt int) time.Duration
}

// Notifier sends request notifications to webhook endpoints.
type Notifier struct {
	senders []*sender
	log     *slog.Logger

	// Test hooks: ready runs once Follow follows the store, followed
	// after each change it handled.
	ready    func()
	followed func(mpa.Change)
}

type endpointStats struct {
	delivered, failed, dropped, retries prometheus.Counter
}

// New returns a Notifier for eps. It sends nothing until [Notifier.Run].
func New(eps []Endpoint, opts Options) (*Notifier, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	backoff := opts.Backoff
	if backoff == nil {
		backoff = Backoff
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyturn_webhook_notifications_total",
		Help: "Webhook notifications by endpoint and result: delivered, failed (every attempt failed) or dropped (queue full).",
	}, []string{"endpoint", "result"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyturn_webhook_retries_total",
		Help: "Webhook delivery attempts after the first, by endpoint.",
	}, []string{"endpoint"})
	collectors := []prometheus.Collector{results, retries}
	n := &Notifier{log: log}
	for _, ep := range eps {
		if ep.Attempts <= 0 || ep.Queue <= 0 || ep.Timeout <= 0 {
			return nil, fmt.Errorf("notify: endpoint %s: attempts, queue and timeout must be positive", ep.Name)
		}
		s := &sender{ep: ep, q: newQueue(ep.Queue), client: client, backoff: backoff, log: log,
			stats: &endpointStats{
				delivered: results.WithLabelValues(ep.Name, "delivered"),
				failed:    results.WithLabelValues(ep.Name, "failed"),
				dropped:   results.WithLabelValues(ep.Name, "dropped"),
				retries:   retries.WithLabelValues(ep.Name),
			}}
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "keyturn_webhook_queue_length",
			Help:        "Webhook notifications waiting to be sent, by endpoint.",
			ConstLabels: prometheus.Labels{"endpoint": ep.Name},
		}, func() float64 { return float64(s.q.len()) }))
		n.senders = append(n.senders, s)
	}
	if opts.Registerer != nil {
		for _, c := range collectors {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("notify: register metrics: %w", err)
			}
		}
	}
	return n, nil
}

// Notify queues x for every endpoint that wants its event. It never
// blocks and never fails: a full queue drops its oldest notification.
func (n *Notifier) Notify(x Notification) {
	if x.ID == "" {
		x.ID = deliveryID()
	}
	body, err := json.Marshal(x)
	if err != nil {
		n.log.Error("encode notification", "event", x.Event, "request", x.Request, "err", err)
		return
	}
	for _, s := range n.senders {
		if s.wants(x.Event) {
			s.enqueue(queued{n: x, body: body})
		}
	}
}

// Run sends notifications for the store's request changes until ctx is
// done: it starts one sender per endpoint and follows the change feed
// (see [Notifier.Follow]). What is queued when ctx ends is not sent.
func (n *Notifier) Run(ctx context.Context, st mpa.Store, svc *mpa.Service) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range n.senders {
		wg.Go(func() { s.run(ctx) })
	}
	err := n.Follow(ctx, st, svc)
	cancel()
	wg.Wait()
	return err
}

// Follow turns request changes into notifications until ctx is done or
// the store closes. A request's event is its new status; a status it
// already had (a vote that did not reach quorum) is no event. Requests
// live when Follow starts are read from svc, so their later changes are
// told as changes, not as new requests.
func (n *Notifier) Follow(ctx context.Context, st mpa.Store, svc *mpa.Service) error {
	changes, err := st.Changes(ctx)
	if err != nil {
		return fmt.Errorf("notify: follow store: %w", err)
	}
	live, err := svc.List(ctx, mpa.ListFilter{Statuses: []mpa.Status{mpa.StatusPending, mpa.StatusApproved, mpa.StatusExecuting}})
	if err != nil {
		return fmt.Errorf("notify: read live requests: %w", err)
	}
	seen := make(map[string]mpa.Status, len(live))
	for _, r := range live {
		seen[r.ID] = r.Status
	}
	if n.ready != nil {
		n.ready()
	}
	for c := range changes {
		if c.Kind == mpa.ChangeRequest {
			if event := transition(seen, c.Request); event != "" {
				n.Notify(notification(event, c.Request))
			}
		}
		if n.followed != nil {
			n.followed(c)
		}
	}
	return ctx.Err()
}

// transition records r's status in seen and returns the event its change
// is, or "".
func transition(seen map[string]mpa.Status, r *mpa.Request) string {
	prev, known := seen[r.ID]
	if r.Status.Final() {
		delete(seen, r.ID)
	} else {
		seen[r.ID] = r.Status
	}
	switch {
	case known && prev == r.Status:
		return ""
	case r.Status == mpa.StatusPending:
		if known {
			return "" // not a path requests take; nothing new to tell
		}
		return audit.KindRequestCreated
	case r.Status == mpa.StatusExecuting:
		return "" // told when it ends
	}
	return audit.KindRequestPrefix + r.Status.String()
}

func deliveryID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
