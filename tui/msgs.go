package tui

import (
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// The messages below are what the console's commands (cmds.go) return.
// Update reacts to them; it never calls the Backend itself.

// watchStartedMsg carries the subscription from [Backend.WatchAll].
type watchStartedMsg struct{ ch <-chan mpa.Request }

// requestMsg is one request state from the subscription.
type requestMsg struct {
	r  mpa.Request
	ch <-chan mpa.Request // to re-arm the read
}

// watchEndedMsg means the subscription closed or failed.
type watchEndedMsg struct{ err error }

// listedMsg carries the stored requests, for the history view.
type listedMsg struct {
	reqs []mpa.Request
	err  error
}

// eventsMsg carries a request's audit trail, for its detail view.
type eventsMsg struct {
	id     string
	events []audit.Event
	err    error
	// output is the request's kept output, if it has any (see output.go).
	output    *mpa.StoredOutput
	outputErr error
	// progress is the request's approvers rule lines, if it has a rule
	// (see groups.go).
	progress    *mpa.Progress
	progressErr error
}

// approverMsg is the viewer's registration state; err wraps
// mpa.ErrNotFound for a user who never started registering.
type approverMsg struct {
	a   mpa.Approver
	err error
}

// voteMsg is the service's answer to an approval or rejection.
type voteMsg struct {
	id      string
	approve bool
	r       mpa.Request
	err     error
}

// cancelMsg is the service's answer to a cancellation.
type cancelMsg struct {
	id  string
	r   mpa.Request
	err error
}

// registrationMsg carries a newly issued TOTP secret.
type registrationMsg struct {
	reg mpa.Registration
	qr  string // the otpauth URL as half-block QR code
	err error
}

// registeredMsg is the service's answer to the confirming code.
type registeredMsg struct {
	a    mpa.Approver
	held *mpa.Request
	err  error
}

// tickMsg refreshes ages and countdowns once a second.
type tickMsg time.Time
