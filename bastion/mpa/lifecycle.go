package mpa

import "time"

// Lifecycle holds how long requests wait and how long finished ones are
// kept. Retention is enforced by the store's TTLs: a finished request is
// written with a TTL and disappears from the store when it runs out. Its
// audit events are kept.
type Lifecycle struct {
	PendingTTL  time.Duration // Pending -> Expired after this long without quorum
	ApprovalTTL time.Duration // Approved -> Expired after this long unreleased (or an approver's valid-before, if earlier)

	CompletedRetention   time.Duration
	RejectedRetention    time.Duration
	CancelledRetention   time.Duration
	ExpiredRetention     time.Duration
	InterruptedRetention time.Duration
}

// DefaultLifecycle is the vendors' lifecycle: seven days to approve and to
// use an approval, 30 days of history for what ran or was refused, seven
// for what lapsed. Interrupted requests are kept 30 days like Completed
// ones: a command that may have half-run is exactly what someone will need
// to investigate.
func DefaultLifecycle() Lifecycle {
	const day = 24 * time.Hour
	return Lifecycle{
		PendingTTL:           7 * day,
		ApprovalTTL:          7 * day,
		CompletedRetention:   30 * day,
		RejectedRetention:    30 * day,
		CancelledRetention:   7 * day,
		ExpiredRetention:     7 * day,
		InterruptedRetention: 30 * day,
	}
}

// withDefaults fills zero durations from [DefaultLifecycle].
func (l Lifecycle) withDefaults() Lifecycle {
	d := DefaultLifecycle()
	for _, p := range []struct{ v, def *time.Duration }{
		{&l.PendingTTL, &d.PendingTTL},
		{&l.ApprovalTTL, &d.ApprovalTTL},
		{&l.CompletedRetention, &d.CompletedRetention},
		{&l.RejectedRetention, &d.RejectedRetention},
		{&l.CancelledRetention, &d.CancelledRetention},
		{&l.ExpiredRetention, &d.ExpiredRetention},
		{&l.InterruptedRetention, &d.InterruptedRetention},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return l
}

// Retention returns how long a request in status s is kept in the store;
// 0 means until it changes state (live requests have no TTL).
func (l Lifecycle) Retention(s Status) time.Duration {
	switch s {
	case StatusCompleted:
		return l.CompletedRetention
	case StatusRejected:
		return l.RejectedRetention
	case StatusCancelled:
		return l.CancelledRetention
	case StatusExpired:
		return l.ExpiredRetention
	case StatusInterrupted:
		return l.InterruptedRetention
	}
	return 0
}

// LifecycleEntry is one line of `mpa settings request-lifecycle list`.
type LifecycleEntry struct {
	Status   Status        `json:"status"`
	Duration time.Duration `json:"duration"`
	Meaning  string        `json:"meaning"`
}

// List returns the lifecycle as rows, in lifecycle order.
func (l Lifecycle) List() []LifecycleEntry {
	return []LifecycleEntry{
		{StatusPending, l.PendingTTL, "expires if not approved within"},
		{StatusApproved, l.ApprovalTTL, "expires if not run within (or an approver's valid-before)"},
		{StatusCompleted, l.CompletedRetention, "removed after"},
		{StatusRejected, l.RejectedRetention, "removed after"},
		{StatusCancelled, l.CancelledRetention, "removed after"},
		{StatusExpired, l.ExpiredRetention, "removed after"},
		{StatusInterrupted, l.InterruptedRetention, "removed after"},
	}
}
