package audit

import "github.com/keyturn/keyturn/policy"

// The kinds of event in the audit chain. Producers (bastion/mpa, the gate)
// and consumers (metrics, notify, mpacli, the console) name these
// constants, so renaming one is a compile error rather than a counter that
// silently stops moving.
const (
	// The gate's own events.
	KindDecision          = "decision"           // a command line decided; data is [DecisionData]
	KindSessionRefused    = "session.refused"    // a session refused before any decision
	KindConsoleOpen       = "console.open"       // the approvers' console opened
	KindCommandUnapproved = "command.unapproved" // a held line ran because MPA is disabled
	KindRequestRefused    = "request.refused"    // a held line refused: its quorum is out of reach
	KindGuardBlocked      = "guard.blocked"      // keyturn-guard stopped a tree on a target

	// A request's life. KindRequestPrefix and a status name make the
	// kind of a transition: KindRequestApproved is
	// KindRequestPrefix+"approved".
	KindRequestPrefix      = "request."
	KindRequestCreated     = "request.created"
	KindRequestApproved    = "request.approved"
	KindRequestRejected    = "request.rejected"
	KindRequestCancelled   = "request.cancelled"
	KindRequestExpired     = "request.expired"
	KindRequestExecuting   = "request.executing"
	KindRequestCompleted   = "request.completed"
	KindRequestInterrupted = "request.interrupted"
	KindRequestApproval    = "request.approval"  // one approver's vote for
	KindRequestRejection   = "request.rejection" // one approver's vote against
	KindRequestOutput      = "request.output"    // a run's output kept

	// Approvers and their codes.
	KindRegistrationInitiated = "approver.registration_initiated"
	KindRegistrationHeld      = "approver.registration_held"
	KindApproverRegistered    = "approver.registered"
	KindBreakGlassRegister    = "breakglass.register_approver"
	KindTOTPFailed            = "totp.failed"     // a wrong code
	KindTOTPReplayed          = "totp.replayed"   // a code already used
	KindTOTPLockout           = "totp.lockout"    // too many wrong codes: the approver is locked
	KindTOTPLockedOut         = "totp.locked_out" // a code given while locked

	// Settings and policy.
	KindSettingsChanged = "settings.changed"
	KindPolicyRecorded  = "policy.recorded"

	// The trail itself: a gate's chain recording the other chains'
	// heads; data is [AnchorData].
	KindAnchor = "audit.anchor"
)

// DecisionData is the data of a [KindDecision] event. Its fields are in
// the order of their JSON names, as the gate's other events (maps) are
// written.
type DecisionData struct {
	Actions []string `json:"actions"`
	// Cert is the certificate the session logged in with, if any.
	Cert    any    `json:"cert,omitempty"`
	Command string `json:"command"`
	// Key and Remote are the session's key fingerprint and address.
	Key     string `json:"key"`
	PTY     bool   `json:"pty"`
	Remote  string `json:"remote"`
	Verdict string `json:"verdict"`
	// Why is the decision's matches, bounded.
	Why []policy.Match `json:"why"`
}
