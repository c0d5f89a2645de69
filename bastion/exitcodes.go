package bastion

import "github.com/keyturn/keyturn/bastion/exitcode"

// Exit statuses the gate itself returns to the ssh client, named from the
// one table in [exitcode]. A command that ran on a target returns the
// target's own status instead.
const (
	ExitRefused     = exitcode.Refused
	ExitUsage       = exitcode.Usage
	ExitTooLong     = exitcode.TooLong
	ExitUnavailable = exitcode.Unavailable
	ExitInternal    = exitcode.Internal
	ExitInterrupted = exitcode.Interrupted
	ExitPending     = exitcode.Pending
	ExitExpired     = exitcode.Expired
	ExitDenied      = exitcode.Denied
	ExitRejected    = exitcode.Rejected
)
