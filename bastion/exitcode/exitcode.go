package exitcode

// Family is the set of statuses one kind of invocation can end with; two
// meanings never share a number within a family.
type Family string

const (
	// Session: ssh USER+TARGET@gate CMD, a command for a target.
	Session Family = "session"
	// Command: ssh USER@gate CMD, the gate's own commands (mpa, policy,
	// whoami, the console).
	Command Family = "command"
	// Guard: keyturn-guard, the login shell of a guarded target.
	Guard Family = "guard"
)

// The gate's statuses, shared by sessions and gate commands where both
// list them in [Table].
const (
	// OK: the gate command did what it was asked.
	OK = 0
	// Refused: the gate refused the session (not allowed to reach the
	// target, forbidden feature, interactive shell).
	Refused = 1
	// Failure: a gate command failed for a reason of the gate's (the
	// store, a missing policy); the message says which.
	Failure = 1
	// Usage: a gate command was called wrongly, or a required reason is
	// missing.
	Usage = 64
	// TooLong: the command line is longer than the gate accepts
	// (max_command_line); nothing was decided or recorded.
	TooLong = 65
	// BadCode: the TOTP code was wrong, or already used. (Not 65: a gate
	// command line over max_command_line ends with TooLong.)
	BadCode = 66
	// Decided: the request was already decided (approved, rejected,
	// expired, cancelled or released); the vote changed nothing.
	Decided = 68
	// Unavailable: the target could not be reached or showed a host key
	// the gate does not trust, or the gate's disk is full so it cannot
	// record the session.
	Unavailable = 69
	// Internal: the gate failed; the log has the cause.
	Internal = 70
	// Interrupted: the connection to the target was lost while the command
	// ran; whether it finished is unknown (EX_IOERR).
	Interrupted = 74
	// Pending: the command was held for approval and has not run: the
	// requester detached, or approval is not possible yet (its quorum
	// is out of reach).
	Pending = 75
	// Expired: the request expired or was cancelled before it ran.
	Expired = 76
	// Denied: policy denies the command outright.
	Denied = 77
	// NotPermitted: a gate command the caller may not use, or may not use
	// on that request.
	NotPermitted = 77
	// Rejected: an approver rejected the request; it never runs.
	Rejected = 78
)

// keyturn-guard's statuses besides the line's own. A line can exit with any
// status itself, so the gate reads GuardBlocked and GuardDenied as the
// guard's only together with the guard's report line on stderr.
const (
	// GuardCollided: the line itself exited with one of the statuses
	// below; the guard reports it as this, so those always come from the
	// guard.
	GuardCollided = 118
	// GuardUsage: no command, an interactive login, or not a grant.
	GuardUsage = 119
	// GuardInternal: the guard could not set up or keep up tracing; the
	// tree, if started, was killed.
	GuardInternal = 120
	// GuardBlocked: the tree did a privileged action the grant does not
	// cover and was killed. Earlier parts of the line may have run.
	GuardBlocked = 121
	// GuardDenied: the tree did something a deny rule names and was
	// killed.
	GuardDenied = 122
	// GuardGrant: the grant was refused (forged, expired, replayed, for
	// another target or another policy); nothing ran.
	GuardGrant = 123
)

// Entry is one row of [Table].
type Entry struct {
	Code     int
	Name     string // the constant's name
	Families []Family
	Meaning  string // for a person, as the README's table says it
}

// Table lists every status above with the families that return it, in
// the order the README shows them.
var Table = []Entry{
	{OK, "OK", []Family{Command}, "the command did what it was asked"},
	{Refused, "Refused", []Family{Session}, "refused: not allowed to reach that target, or a forbidden feature"},
	{Failure, "Failure", []Family{Command}, "the gate command failed (the message says why)"},
	{Usage, "Usage", []Family{Session, Command}, "a gate command was called wrongly, or a required reason is missing"},
	{TooLong, "TooLong", []Family{Session, Command}, "the command line is longer than max_command_line; nothing was decided"},
	{BadCode, "BadCode", []Family{Command}, "the TOTP code was wrong, or already used"},
	{Decided, "Decided", []Family{Command}, "the request was already decided; the vote changed nothing"},
	{Unavailable, "Unavailable", []Family{Session, Command}, "the target could not be reached, its host key is not trusted, the gate's disk is full, or the gate is stopping"},
	{Internal, "Internal", []Family{Session, Command}, "internal error in the gate (the log has the cause)"},
	{Interrupted, "Interrupted", []Family{Session}, "the connection to the target was lost while the command ran"},
	{Pending, "Pending", []Family{Session, Command}, "held for approval and not run (yet), or its quorum is out of reach"},
	{Expired, "Expired", []Family{Session}, "the request expired or was cancelled before it ran"},
	{Denied, "Denied", []Family{Session}, "denied by policy"},
	{NotPermitted, "NotPermitted", []Family{Command}, "the caller may not do that"},
	{Rejected, "Rejected", []Family{Session, Command}, "rejected by an approver; it never runs"},
	{GuardCollided, "GuardCollided", []Family{Guard}, "the line itself exited with one of the guard's statuses"},
	{GuardUsage, "GuardUsage", []Family{Guard}, "no command, an interactive login, or not a grant"},
	{GuardInternal, "GuardInternal", []Family{Guard}, "the guard could not trace; the tree was killed"},
	{GuardBlocked, "GuardBlocked", []Family{Guard}, "the tree did a privileged action the grant does not cover and was killed"},
	{GuardDenied, "GuardDenied", []Family{Guard}, "the tree did something a deny rule names and was killed"},
	{GuardGrant, "GuardGrant", []Family{Guard}, "the grant was refused; nothing ran"},
}
