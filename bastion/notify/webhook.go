package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/keyturn/keyturn/bastion/config"
)

// Headers of a webhook POST.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the body
	// under the endpoint's secret.
	HeaderSignature = "X-Keyturn-Signature"
	// HeaderEvent repeats the body's event.
	HeaderEvent = "X-Keyturn-Event"
	// HeaderDelivery repeats the body's id: the same on every retry.
	HeaderDelivery = "X-Keyturn-Delivery"
	// HeaderGate names the gate that sent the POST (its gate_id, or its
	// node name): with several gates, which one led the webhooks.
	HeaderGate = "X-Keyturn-Gate"
)

// Endpoint is one webhook receiver.
type Endpoint struct {
	Name     string // in logs and metric labels; URLs may hold tokens and are never logged
	URL      string
	Secret   []byte
	Events   []string      // empty: every event
	Timeout  time.Duration // per attempt
	Attempts int           // tries per notification
	Queue    int           // notifications kept while the endpoint is slow
}

// Endpoints converts the config's webhooks.
func Endpoints(hooks []config.Webhook) []Endpoint {
	out := make([]Endpoint, len(hooks))
	for i := range hooks {
		h := &hooks[i]
		out[i] = Endpoint{Name: h.Name, URL: h.URL, Secret: h.Secret(), Events: h.Events,
			Timeout: h.Timeout.Std(), Attempts: h.Attempts, Queue: h.Queue}
	}
	return out
}

// Sign returns the X-Keyturn-Signature value for body under secret. A
// receiver computes the same and compares with hmac.Equal.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Backoff is the default wait before retry attempt+1: 1s, 2s, 4s, ...
// capped at a minute, each with up to half of it taken off at random so
// that gates restarting together do not retry in step.
func Backoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 6)
	d = min(d, time.Minute)
	return d - rand.N(d/2)
}

// sender delivers one endpoint's queue, in order, one at a time.
type sender struct {
	ep      Endpoint
	q       *queue
	client  *http.Client
	backoff func(int) time.Duration
	log     *slog.Logger
	stats   *endpointStats
	// sent, if set (tests), runs after each delivery ends, err nil or not.
	sent func(Notification, error)

	// gate is sent in HeaderGate.
	gate string
	// lead, if set (a leader's sender, see RunFenced), is checked before
	// every POST: an error means this gate no longer leads at the store's
	// current revision, and the notification is left to the new leader.
	lead func(ctx context.Context) error
}

func (s *sender) wants(event string) bool {
	return len(s.ep.Events) == 0 || slices.Contains(s.ep.Events, event)
}

// enqueue never blocks: a full queue loses its oldest notification.
func (s *sender) enqueue(it queued) {
	if old := s.q.push(it); old != nil {
		old.finished()
		s.stats.dropped.Inc()
		s.log.Warn("webhook queue full; oldest notification dropped", "endpoint", s.ep.Name)
	}
}

// run sends until ctx is done.
func (s *sender) run(ctx context.Context) {
	for {
		it, ok := s.q.pop(ctx)
		if !ok {
			return
		}
		err := s.deliver(ctx, it)
		switch {
		case errors.Is(err, errNotLeading):
			// Not done, and not sent: the new leader sends it (same id)
			// from the mark, which this gate can no longer move.
			s.log.Warn("webhook: this gate no longer leads; leaving the notification to the leader",
				"endpoint", s.ep.Name, "event", it.n.Event, "request", it.n.Request, "err", err)
			return
		case err == nil:
			s.stats.delivered.Inc()
		case ctx.Err() != nil:
			// Not done: the next follower sends it again, same id.
			return
		default:
			s.stats.failed.Inc()
			s.log.Warn("webhook notification given up", "endpoint", s.ep.Name,
				"event", it.n.Event, "request", it.n.Request, "err", err)
		}
		it.finished()
		if s.sent != nil {
			s.sent(it.n, err)
		}
	}
}

// deliver tries it up to Attempts times with backoff between tries. A
// 4xx answer other than 408 and 429 is not retried: sending the same body
// again will not change the receiver's mind.
func (s *sender) deliver(ctx context.Context, it queued) error {
	for attempt := 1; ; attempt++ {
		if s.lead != nil {
			if err := s.lead(ctx); err != nil {
				return fmt.Errorf("%w: %w", errNotLeading, err)
			}
		}
		err := s.post(ctx, it)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= s.ep.Attempts || ctx.Err() != nil {
			return fmt.Errorf("attempt %d: %w", attempt, err)
		}
		s.stats.retries.Inc()
		wait := time.NewTimer(s.backoff(attempt))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return ctx.Err()
		}
	}
}

// errNotLeading: the leadership check before a POST failed.
var errNotLeading = errors.New("webhook: not the leader")

type permanentError struct{ status string }

func (e *permanentError) Error() string { return "endpoint answered " + e.status }

func (s *sender) post(ctx context.Context, it queued) error {
	ctx, cancel := context.WithTimeout(ctx, s.ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ep.URL, bytes.NewReader(it.body))
	if err != nil {
		return &permanentError{status: "nothing: bad request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyturn")
	req.Header.Set(HeaderSignature, Sign(s.ep.Secret, it.body))
	req.Header.Set(HeaderEvent, it.n.Event)
	req.Header.Set(HeaderDelivery, it.n.ID)
	if s.gate != "" {
		req.Header.Set(HeaderGate, s.gate)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error names the URL, which may carry a token.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("post: %w", err)
	}
	// Drain a little so the connection can be reused; a receiver's body
	// is not read further.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return fmt.Errorf("endpoint answered %s", resp.Status)
	default:
		return &permanentError{status: resp.Status}
	}
}
