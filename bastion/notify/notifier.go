package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
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
	// Gate is this gate's name, sent in [HeaderGate].
	Gate string
}

// Notifier sends request notifications to webhook endpoints.
type Notifier struct {
	senders []*sender
	log     *slog.Logger

	// Test hooks: ready runs once Follow follows the store, followed
	// after each change it handled.
	ready    func()
	followed func(mpa.Change)

	// progress tracks which audit events every endpoint is done with,
	// for the mark (set by Run).
	progress *progress
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
		s := &sender{ep: ep, q: newQueue(ep.Queue), client: client, backoff: backoff, log: log, gate: opts.Gate,
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
// blocks and never fails: a full queue drops its oldest notification. It
// returns how many endpoints took it.
func (n *Notifier) Notify(x Notification) int {
	if x.ID == "" {
		var b [12]byte
		rand.Read(b[:])
		x.ID = hex.EncodeToString(b[:])
	}
	body, err := json.Marshal(x)
	if err != nil {
		n.log.Error("encode notification", "event", x.Event, "request", x.Request, "err", err)
		return 0
	}
	taken := 0
	for _, s := range n.senders {
		if s.wants(x.Event) {
			taken++
			s.enqueue(queued{n: x, body: body, done: n.progress.done})
		}
	}
	return taken
}

// Run sends notifications for the store's request changes until ctx is
// done: it starts one sender per endpoint and follows the store (see
// [Notifier.Follow]). What is queued when ctx ends is not sent by this
// gate; with a store that keeps marks it is sent by the next follower.
func (n *Notifier) Run(ctx context.Context, st mpa.Store, svc *mpa.Service) error {
	return n.RunFenced(ctx, st, svc, nil)
}

// RunFenced is Run for a leader: fence (a [mpa.Leadership]'s Fence, nil
// for none) guards every write of the webhook mark, so a gate that lost
// the lead cannot move the position back or forward under the new leader,
// and is checked against the store before every POST, so that a gate
// which lost the lead without noticing yet (paused past its lease, cut
// off from etcd) does not send what the new leader sends. A failed check
// ends RunFenced with an error wrapping [mpa.ErrNotLeader].
func (n *Notifier) RunFenced(ctx context.Context, st mpa.Store, svc *mpa.Service, fence func(mpa.Tx) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n.progress = newProgress()
	var lead func(context.Context) error
	if fence != nil {
		lead = func(ctx context.Context) error {
			err := st.View(ctx, func(tx mpa.Tx) error { return fence(tx) })
			if err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("notify: leadership check: %w", err))
			}
			return err
		}
	}
	var wg sync.WaitGroup
	for _, s := range n.senders {
		s.lead = lead
		wg.Go(func() { s.run(ctx) })
	}
	wg.Go(func() { n.keepMark(ctx, st, fence) })
	err := n.Follow(ctx, st, svc)
	if cause := context.Cause(ctx); errors.Is(cause, mpa.ErrNotLeader) {
		err = cause
	}
	cancel(nil)
	wg.Wait()
	return err
}

// MarkName is the store mark (see mpa.MarkTx) that holds the audit
// sequence number up to which every webhook notification was handled
// (delivered, given up, or dropped from a full queue): of the one chain
// of a single gate; on a shared store each gate's chain has its own mark,
// MarkName/<chain>.
const MarkName = "webhooks"

// maxCatchUp bounds how many audit events a follower reads back when it
// takes over: a mark further behind (webhooks led by no gate for a long
// time) skips the oldest, with a warning.
const maxCatchUp = 10000

// markEvery is how often the leader saves its position.
const markEvery = 500 * time.Millisecond

// Follow turns the audit trail into notifications until ctx is done or
// the store closes. Each request transition (created, approved, rejected,
// cancelled, expired, completed, interrupted) is one audit event,
// committed with the request in one transaction, so the trail is the
// notification log: the notification's id is derived from its event's
// chain hash, the same on every gate, and a follower that takes over
// (another gate after a leader change, or this one after a restart) reads
// the trail from the mark its predecessor saved. A gap in the change feed
// (ChangeResync) is closed the same way, by reading the trail.
//
// The result is at least once, never lost while the trail holds the
// events: a notification the old leader sent just before it stopped may
// be sent again by the new one, with the same id (X-Keyturn-Delivery);
// receivers drop ids they have seen.
func (n *Notifier) Follow(ctx context.Context, st mpa.Store, svc *mpa.Service) error {
	if n.progress == nil {
		n.progress = newProgress()
	}
	changes, err := st.Changes(ctx)
	if err != nil {
		return fmt.Errorf("notify: follow store: %w", err)
	}
	next, err := n.startAt(ctx, st)
	if err != nil {
		return err
	}
	if err = n.catchUp(ctx, st, next); err != nil {
		return err
	}
	if n.ready != nil {
		n.ready()
	}
	// Requests changed at the revision being read, to describe the
	// audit events of the same transaction without a read.
	var rev uint64
	reqs := map[string]*mpa.Request{}
	for c := range changes {
		if c.Rev != rev {
			rev = c.Rev
			clear(reqs)
		}
		switch c.Kind {
		case mpa.ChangeRequest:
			reqs[c.Request.ID] = c.Request
		case mpa.ChangeResync:
			if err = n.catchUp(ctx, st, next); err != nil {
				return err
			}
		case mpa.ChangeAudit:
			e := c.Audit
			// A chain not seen before (a gate that joined since) starts at 1.
			switch want := max(next[e.Chain], 1); {
			case e.Seq < want: // read already, by a catch-up
			case e.Seq > want: // the feed skipped some: read the trail
				if err = n.catchUp(ctx, st, next); err != nil {
					return err
				}
			default:
				r := reqs[e.Request]
				if r == nil && eventOf(e.Kind) != "" {
					r, err = readRequest(ctx, st, e.Request)
					if err != nil {
						n.log.Error("webhook: request unreadable; notification not sent", "request", e.Request, "event", e.Kind, "err", err)
					}
				}
				n.event(e, r)
				next[e.Chain] = e.Seq + 1
			}
		}
		if n.followed != nil {
			n.followed(c)
		}
	}
	return ctx.Err()
}

// startAt is, for each audit chain, the first sequence number to notify:
// after the chain's saved mark; for a chain without one, from its first
// event if another chain has a mark (a leader was here before, and this
// chain's gate joined after it last saved), or else (the first start,
// or a store without marks) after the chain's head now.
func (n *Notifier) startAt(ctx context.Context, st mpa.Store) (map[string]uint64, error) {
	next := map[string]uint64{}
	err := st.View(ctx, func(tx mpa.Tx) error {
		heads, err := tx.AuditChains()
		if err != nil {
			return err
		}
		mt, marks := tx.(mpa.MarkTx)
		stored := map[string]bool{}
		for chain, h := range heads {
			next[chain] = h.Seq + 1
			if marks {
				v, found, err := mt.GetMark(markName(chain))
				if err != nil {
					return err
				}
				if found {
					next[chain], stored[chain] = v+1, true
				}
			}
		}
		for chain := range heads {
			if len(stored) > 0 && !stored[chain] {
				next[chain] = 1
			}
			n.progress.start(chain, next[chain], stored[chain])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: read the webhook position: %w", err)
	}
	return next, nil
}

// catchUp notifies the audit events of every chain that are in the store
// now from next on (a chain missing from next: from 1), and moves next
// past them.
func (n *Notifier) catchUp(ctx context.Context, st mpa.Store, next map[string]uint64) error {
	type found struct {
		e audit.Event
		r *mpa.Request
	}
	var events []found
	var skipped map[string]uint64
	err := st.View(ctx, func(tx mpa.Tx) error {
		events = events[:0]
		skipped = map[string]uint64{}
		heads, err := tx.AuditChains()
		if err != nil {
			return err
		}
		for _, chain := range slices.Sorted(maps.Keys(heads)) {
			h := heads[chain]
			from := max(next[chain], 1)
			if h.Seq >= from && h.Seq-from >= maxCatchUp {
				n.log.Warn("webhook: too far behind; the oldest notifications are skipped", "chain", chain, "from", from, "head", h.Seq, "kept", maxCatchUp)
				from = h.Seq - maxCatchUp + 1
				skipped[chain] = from
			}
			for e, err := range tx.AuditEvents(chain, from) {
				if err != nil {
					return err
				}
				if e.Seq > h.Seq {
					break
				}
				f := found{e: e}
				if eventOf(e.Kind) != "" {
					r, err := tx.GetRequest(e.Request)
					switch {
					case err == nil:
						f.r = &r
					case !errors.Is(err, mpa.ErrNotFound):
						return err
					}
				}
				events = append(events, f)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: read the audit trail: %w", err)
	}
	for chain, from := range skipped {
		n.progress.skip(chain, from)
		next[chain] = from
	}
	for _, f := range events {
		if f.e.Seq < max(next[f.e.Chain], 1) {
			continue
		}
		if eventOf(f.e.Kind) != "" && f.r == nil {
			n.log.Warn("webhook: request no longer stored; notification not sent", "request", f.e.Request, "event", f.e.Kind)
		}
		n.event(&f.e, f.r)
		next[f.e.Chain] = f.e.Seq + 1
	}
	return nil
}

// readRequest reads one request.
func readRequest(ctx context.Context, st mpa.Store, id string) (*mpa.Request, error) {
	var r mpa.Request
	err := st.View(ctx, func(tx mpa.Tx) error {
		var err error
		r, err = tx.GetRequest(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// event notifies audit event e about request r (nil: nothing to send) and
// counts it handled once every endpoint is done with it.
func (n *Notifier) event(e *audit.Event, r *mpa.Request) {
	event := eventOf(e.Kind)
	if event == "" || r == nil || r.ID != e.Request {
		n.progress.handled(e.Chain, e.Seq, 0)
		return
	}
	x := notification(event, r)
	x.ID = deliveryID(e)
	x.Status = strings.TrimPrefix(e.Kind, audit.KindRequestPrefix)
	if event == audit.KindRequestCreated {
		x.Status = mpa.StatusPending.String()
	}
	x.seq, x.chain = e.Seq, e.Chain
	// Counted open before the senders can finish it.
	want := 0
	for _, s := range n.senders {
		if s.wants(event) {
			want++
		}
	}
	n.progress.handled(e.Chain, e.Seq, want)
	for range want - n.Notify(x) { // not queued (unencodable): not open
		n.progress.done(e.Chain, e.Seq)
	}
}

// eventOf is the webhook event an audit event kind is, or "": the
// transitions a request takes, less the ones told otherwise (Executing is
// told when it ends; back to Pending, when approvals lapse, is no news).
func eventOf(kind string) string {
	switch kind {
	case audit.KindRequestCreated, audit.KindRequestApproved, audit.KindRequestRejected, audit.KindRequestCancelled,
		audit.KindRequestExpired, audit.KindRequestCompleted, audit.KindRequestInterrupted:
		return kind
	}
	return ""
}

// deliveryID is the notification id for audit event e: the first 96 bits
// of its chain hash, so every gate derives the same id for it.
func deliveryID(e *audit.Event) string {
	if len(e.Hash) >= 24 {
		return e.Hash[:24]
	}
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
