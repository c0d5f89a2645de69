package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// Session kinds, as [Metrics.Session] takes them.
const (
	SessionTarget  = "target"  // USER+TARGET: a command or shell on a target
	SessionGate    = "gate"    // USER: the gate's own commands
	SessionConsole = "console" // USER with a terminal and no command: the approvers' console
)

// Metrics holds the gate's collectors. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry

	sessions                          *prometheus.CounterVec
	sessTarget, sessGate, sessConsole prometheus.Counter
	decisions                         *prometheus.CounterVec
	open                              *prometheus.GaugeVec
	approvals, rejections, lockouts   prometheus.Counter
	totpFailures                      *prometheus.CounterVec
	finished                          *prometheus.CounterVec
	execSeconds                       prometheus.Histogram
	dialErrors                        *prometheus.CounterVec
	auditEvents                       *prometheus.CounterVec

	// Test hooks, nil in the gate: seeded runs once the open gauges hold
	// the store's live requests, handled after each change is counted.
	seeded  func()
	handled func(mpa.Change)
}

// New returns Metrics registered in a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		sessions:     counterVec("keyturn_sessions_total", "SSH sessions opened at the gate, by kind (target, gate, console).", "kind"),
		decisions:    counterVec("keyturn_decisions_total", "Policy decisions on command lines, by verdict (allow, hold, deny).", "verdict"),
		approvals:    counter("keyturn_approvals_total", "Approvals cast (each approver's vote, with a good code)."),
		rejections:   counter("keyturn_rejections_total", "Rejections cast."),
		totpFailures: counterVec("keyturn_totp_failures_total", "TOTP codes refused, by reason (bad, replayed, locked: tried while locked out).", "reason"),
		lockouts:     counter("keyturn_totp_lockouts_total", "Approvers locked out after too many bad codes in a row."),
		finished:     counterVec("keyturn_requests_finished_total", "Requests that reached a final status, by status.", "status"),
		dialErrors:   counterVec("keyturn_target_dial_errors_total", "Failed connections to targets (TCP, SSH handshake or host key), by target.", "target"),
		auditEvents:  counterVec("keyturn_audit_events_total", "Events appended to the audit trail, by kind.", "kind"),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keyturn_requests_open",
			Help: "Requests not yet final, by status (pending, approved, executing).",
		}, []string{"status"}),
		execSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keyturn_exec_duration_seconds",
			Help:    "How long released (approved) commands ran on their target.",
			Buckets: prometheus.ExponentialBuckets(0.05, 4, 9), // 50 ms to about 55 min
		}),
	}
	// Resolved once, so that counting a session is one atomic add.
	m.sessTarget = m.sessions.WithLabelValues(SessionTarget)
	m.sessGate = m.sessions.WithLabelValues(SessionGate)
	m.sessConsole = m.sessions.WithLabelValues(SessionConsole)
	// Label values known in advance start at zero, so that rate() and
	// alerts see the series before the first event.
	for _, v := range []policy.Verdict{policy.Allow, policy.Hold, policy.Deny} {
		m.decisions.WithLabelValues(v.String())
	}
	for _, v := range []mpa.Status{mpa.StatusPending, mpa.StatusApproved, mpa.StatusExecuting} {
		m.open.WithLabelValues(v.String())
	}
	for _, v := range []string{reasonBad, reasonReplayed, reasonLocked} {
		m.totpFailures.WithLabelValues(v)
	}
	m.reg.MustRegister(m.sessions, m.decisions, m.open, m.approvals, m.rejections,
		m.totpFailures, m.lockouts, m.finished, m.execSeconds, m.dialErrors, m.auditEvents,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func counterVec(name, help, label string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
}

// Registerer is where other parts of the gate (the notifier) register
// their own collectors, to be served with these.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads every registered collector, for tests and handlers.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Session counts a session of the given kind (SessionTarget, SessionGate
// or SessionConsole).
func (m *Metrics) Session(kind string) {
	switch kind {
	case SessionTarget:
		m.sessTarget.Inc()
	case SessionGate:
		m.sessGate.Inc()
	case SessionConsole:
		m.sessConsole.Inc()
	default:
		m.sessions.WithLabelValues(kind).Inc()
	}
}

// DialError counts a failed connection to target. It has the signature of
// targets.Pool's OnDialError hook.
func (m *Metrics) DialError(target string, _ error) {
	m.dialErrors.WithLabelValues(target).Inc()
}
