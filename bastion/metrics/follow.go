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
	live, err := svc.List(ctx, mpa.ListFilter{Statuses: liveStatuses})
	if err != nil {
		return fmt.Errorf("metrics: read open requests: %w", err)
	}
	open := make(map[string]mpa.Status, len(live))
	for _, r := range live {
		m.track(open, r.ID, r.Status)
	}
	if m.seeded != nil {
		m.seeded()
	}
	for c := range changes {
		switch c.Kind {
		case mpa.ChangeAudit:
			m.count(c.Audit)
		case mpa.ChangeRequest:
			m.track(open, c.Request.ID, c.Request.Status)
		}
		if m.handled != nil {
			m.handled(c)
		}
	}
	return ctx.Err()
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
