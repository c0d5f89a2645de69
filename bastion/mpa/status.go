package mpa

import "fmt"

// Status is where a [Request] is in its lifecycle.
type Status uint8

// Request states. The zero Status is invalid so that a request decoded from
// a record without a status is noticed.
const (
	StatusPending     Status = iota + 1 // waiting for approvals
	StatusApproved                      // quorum reached; the requester may release it once
	StatusRejected                      // an approver rejected it
	StatusCancelled                     // its requester withdrew it
	StatusExecuting                     // released; the command is running
	StatusCompleted                     // ran (or, for non-command kinds, was applied)
	StatusExpired                       // not approved, or not released, in time
	StatusInterrupted                   // the gate stopped while it ran; never re-run
)

var statusNames = [...]string{
	StatusPending:     "pending",
	StatusApproved:    "approved",
	StatusRejected:    "rejected",
	StatusCancelled:   "cancelled",
	StatusExecuting:   "executing",
	StatusCompleted:   "completed",
	StatusExpired:     "expired",
	StatusInterrupted: "interrupted",
}

// Statuses lists every valid status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusPending, StatusApproved, StatusRejected, StatusCancelled,
		StatusExecuting, StatusCompleted, StatusExpired, StatusInterrupted}
}

func (s Status) String() string {
	if s > 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// MarshalText encodes s by name, so stored records and --json output read
// "approved", not 2.
func (s Status) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(statusNames) {
		return nil, fmt.Errorf("mpa: invalid status %d", uint8(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText decodes a status name.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseStatus parses a status name as [Status.String] writes it.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if i > 0 && n == name {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("mpa: unknown status %q", name)
}

// Final reports whether no further transition can leave s.
func (s Status) Final() bool {
	switch s {
	case StatusRejected, StatusCancelled, StatusCompleted, StatusExpired, StatusInterrupted:
		return true
	}
	return false
}
