package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Reasons a TOTP code was refused, as keyturn_totp_failures_total labels
// them.
const (
	reasonBad      = "bad"
	reasonReplayed = "replayed"
	reasonLocked   = "locked"
)

// liveStatuses are the statuses keyturn_requests_open follows.
var liveStatuses = []mpa.Status{mpa.StatusPending, mpa.StatusApproved, mpa.StatusExecuting}

// Follow counts the store's committed changes until ctx is done or the
// store closes: audit events into the counters, request records into the
// open-request gauges (seeded from svc's live requests). Every gate sharing
// a store counts every gate's events, so these describe the store; only
// sessions and dial errors are this gate's own.
//
// Follow runs on its own goroutine and never slows a writer: the store
// queues changes for a slow reader.
func (m *Metrics) Follow(ctx context.Context, st mpa.Store, svc *mpa.Service) error {
	// Subscribe before listing, so a change between the two is not lost.
	changes, err := st.Changes(ctx)
	if err != nil {
		return fmt.Errorf("metrics: follow store: %w", err)
	}
	open := map[string]mpa.Status{}
	if err := m.reseed(ctx, svc, open); err != nil {
		return err
	}
	next, err := auditNext(ctx, st)
	if err != nil {
		return err
	}
	if m.seeded != nil {
		m.seeded()
	}
	for c := range changes {
		switch c.Kind {
		case mpa.ChangeAudit:
			// Each gate's chain counts on its own; a chain not seen
			// before (a gate that joined since) starts at 1.
			switch e := c.Audit; {
			case e.Seq < max(next[e.Chain], 1): // counted already, by a catch-up
			case e.Seq > max(next[e.Chain], 1): // the feed skipped some: read the trail
				if err = m.catchUp(ctx, st, next); err != nil {
					return err
				}
			default:
				m.count(e)
				next[e.Chain] = e.Seq + 1
			}
		case mpa.ChangeRequest:
			m.track(open, c.Request.ID, c.Request.Status)
		case mpa.ChangeResync:
			// The feed lost changes: count the events it lost from the
			// trail, and the open requests afresh.
			if err = m.catchUp(ctx, st, next); err != nil {
				return err
			}
			if err := m.reseed(ctx, svc, open); err != nil {
				return err
			}
		}
		if m.handled != nil {
			m.handled(c)
		}
	}
	return ctx.Err()
}

// reseed sets the open-request gauges from svc's live requests.
func (m *Metrics) reseed(ctx context.Context, svc *mpa.Service, open map[string]mpa.Status) error {
	live, err := svc.List(ctx, mpa.ListFilter{Statuses: liveStatuses})
	if err != nil {
		return fmt.Errorf("metrics: read open requests: %w", err)
	}
	for id := range open {
		m.track(open, id, mpa.StatusCompleted) // uncount
	}
	for _, r := range live {
		m.track(open, r.ID, r.Status)
	}
	return nil
}

// maxCatchUp bounds how many audit events one catch-up counts.
const maxCatchUp = 100000

// auditNext is, by chain, the sequence number its next event will have.
func auditNext(ctx context.Context, st mpa.Store) (map[string]uint64, error) {
	next := map[string]uint64{}
	err := st.View(ctx, func(tx mpa.Tx) error {
		heads, err := tx.AuditChains()
		for chain, h := range heads {
			next[chain] = h.Seq + 1
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("metrics: read the audit heads: %w", err)
	}
	return next, nil
}

// catchUp counts the audit events of every chain from next on (a chain
// missing from next: from 1) that are in the store now, and moves next
// past them.
func (m *Metrics) catchUp(ctx context.Context, st mpa.Store, next map[string]uint64) error {
	var events []audit.Event
	err := st.View(ctx, func(tx mpa.Tx) error {
		events = events[:0]
		heads, err := tx.AuditChains()
		if err != nil {
			return err
		}
		for chain, h := range heads {
			from := max(next[chain], 1)
			if h.Seq >= from && h.Seq-from >= maxCatchUp {
				from = h.Seq - maxCatchUp + 1
			}
			for e, err := range tx.AuditEvents(chain, from) {
				if err != nil {
					return err
				}
				if e.Seq > h.Seq {
					break
				}
				events = append(events, e)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics: read the audit trail: %w", err)
	}
	for i := range events {
		if events[i].Seq < max(next[events[i].Chain], 1) {
			continue
		}
		m.count(&events[i])
		next[events[i].Chain] = events[i].Seq + 1
	}
	return nil
}

// track moves request id to status st in the open gauges; open holds what
// each live request was counted as.
func (m *Metrics) track(open map[string]mpa.Status, id string, st mpa.Status) {
	prev, known := open[id]
	if known && prev == st {
		return
	}
	if known {
		m.open.WithLabelValues(prev.String()).Dec()
		delete(open, id)
	}
	if st.Final() {
		return
	}
	m.open.WithLabelValues(st.String()).Inc()
	open[id] = st
}

// count turns one audit event into the counters it moves.
func (m *Metrics) count(e *audit.Event) {
	m.auditEvents.WithLabelValues(e.Kind).Inc()
	switch e.Kind {
	case audit.KindDecision:
		var d audit.DecisionData
		if json.Unmarshal(e.Data, &d) == nil && d.Verdict != "" {
			m.decisions.WithLabelValues(d.Verdict).Inc()
		}
	case audit.KindRequestApproval:
		m.approvals.Inc()
	case audit.KindRequestRejection:
		m.rejections.Inc()
	case audit.KindTOTPFailed:
		m.totpFailures.WithLabelValues(reasonBad).Inc()
	case audit.KindTOTPReplayed:
		m.totpFailures.WithLabelValues(reasonReplayed).Inc()
	case audit.KindTOTPLockedOut:
		m.totpFailures.WithLabelValues(reasonLocked).Inc()
	case audit.KindTOTPLockout:
		m.lockouts.Inc()
	}
	status, ok := strings.CutPrefix(e.Kind, audit.KindRequestPrefix)
	if !ok {
		return
	}
	st, err := mpa.ParseStatus(status)
	if err != nil || !st.Final() {
		return
	}
	m.finished.WithLabelValues(status).Inc()
	if st == mpa.StatusCompleted {
		// Only a released command has a start and an end; requests
		// keyturn applies itself complete without them.
		var x struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		}
		if json.Unmarshal(e.Data, &x) == nil && !x.Start.IsZero() && !x.End.Before(x.Start) {
			m.execSeconds.Observe(x.End.Sub(x.Start).Seconds())
		}
	}
}
