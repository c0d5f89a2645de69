package bastion

// Exit statuses the gate itself returns to the ssh client. A command that
// ran on a target returns the target's own status instead. They follow
// sysexits.h where one fits, so scripts can tell a refusal from a failure of
// the command they ran.
const (
	// ExitRefused: the gate refused the session (not allowed to reach the
	// target, forbidden feature, interactive shell).
	ExitRefused = 1
	// ExitUsage: a gate command was called wrongly.
	ExitUsage = 64
	// ExitTooLong: the command line is longer than the gate accepts
	// (max_command_line); nothing was decided or recorded.
	ExitTooLong = 65
	// ExitUnavailable: the target could not be reached or showed a host key
	// the gate does not trust, or the gate's disk is full so it cannot
	// record the session (try again once space is freed).
	ExitUnavailable = 69
	// ExitInternal: the gate failed; the log has the cause.
	ExitInternal = 70
	// ExitInterrupted: the connection to the target was lost while the
	// command ran; whether it finished is unknown (EX_IOERR). A released
	// request ends Interrupted, not Completed.
	ExitInterrupted = 74
	// ExitPending: the command was held for approval and has not run: the
	// requester detached, or approval is not possible yet.
	ExitPending = 75
	// ExitExpired: the request expired or was cancelled before it ran.
	ExitExpired = 76
	// ExitDenied: policy denies the command outright.
	ExitDenied = 77
	// ExitRejected: an approver rejected the request; it never runs.
	ExitRejected = 78
)
