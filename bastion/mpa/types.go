package mpa

import (
	"encoding/json"
	"slices"
	"time"
)

// Kind says what a request does when it is approved.
type Kind string

const (
	// KindCommand holds a command line for a target; its requester runs it
	// once approved.
	KindCommand Kind = "command"
	// KindRegisterApprover makes the approver named in Payload registered.
	KindRegisterApprover Kind = "register_approver"
	// KindDisableMPA turns MPA off.
	KindDisableMPA Kind = "disable_mpa"
	// KindUpdatePolicy carries a new policy in Payload; the gate switches
	// to it when it sees the request Completed.
	KindUpdatePolicy Kind = "update_policy"
)

// ActionRef names a privileged action, by service, as the policy defines
// it (for example {Name: "kill_process", Service: "process"}).
type ActionRef struct {
	Name    string `json:"name"`
	Service string `json:"service"`
}

// Actions on keyturn itself, for the requests the service creates.
var (
	ActionRegisterApprover = ActionRef{Name: "register_approver", Service: "mpa"}
	ActionDisableMPA       = ActionRef{Name: "disable_mpa", Service: "mpa"}
	ActionUpdatePolicy     = ActionRef{Name: "update_policy", Service: "mpa"}
)

// Vote is one approval or rejection.
type Vote struct {
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
	Comment  string    `json:"comment,omitempty"`
	// ValidBefore, if set, is when this approver's consent runs out: an
	// Approved request expires at the earliest ValidBefore of its votes
	// if that comes before the approval TTL.
	ValidBefore time.Time `json:"valid_before,omitzero"`
}

// Execution records a released command's run.
type Execution struct {
	Node         string    `json:"node,omitempty"` // the gate that ran it
	Start        time.Time `json:"start"`
	End          time.Time `json:"end,omitzero"`
	ExitStatus   int       `json:"exit_status"`
	OutputBytes  int64     `json:"output_bytes"`
	OutputSHA256 string    `json:"output_sha256,omitempty"`
	Error        string    `json:"error,omitempty"`
	// OutputHead is the output's first lines, escaped (see
	// Output.HeadLines), for notifications.
	OutputHead string `json:"output_head,omitempty"`
}

// Request is a held privileged action.
type Request struct {
	ID      string      `json:"id"`
	Kind    Kind        `json:"kind"`
	Actions []ActionRef `json:"actions"`
	Target  string      `json:"target,omitempty"`
	Command string      `json:"command,omitempty"` // the exact command line
	// Why is the policy decision's explanation, kept verbatim for the
	// approvers and the audit trail; mpa does not interpret it.
	Why       json.RawMessage `json:"why,omitempty"`
	Requester string          `json:"requester"`
	Reason    string          `json:"reason,omitempty"`
	Created   time.Time       `json:"created"`
	Updated   time.Time       `json:"updated"`
	Status    Status          `json:"status"`

	RequiredApprovals int `json:"required_approvals"`
	// Rules are the approvers rules of its actions (see GroupRule),
	// fixed at creation like the quorum; empty: any approvers.
	Rules      []GroupRule `json:"approver_rules,omitempty"`
	Approvals  []Vote      `json:"approvals,omitempty"`
	Rejections []Vote      `json:"rejections,omitempty"`

	// ExpiresAt is when a Pending request stops taking votes, or when an
	// Approved one can no longer be released. Zero once final.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// ApprovalTTL is how long an approval of this request lasts (zero: the
	// lifecycle's).
	ApprovalTTL time.Duration `json:"approval_ttl,omitempty"`

	// PTY records that the command was decided, and is approved, to run
	// with a terminal. Release gives it one only then: a terminal turns
	// vi or less into a shell, so it is part of what approvers approve.
	PTY bool `json:"pty,omitempty"`

	// PolicyBase, for update_policy, is the SHA-256 of the policy record
	// (Settings.Policy) the change was made against. If the record has
	// changed by the time of approval, the request is stale and is
	// cancelled rather than applied: its diff no longer says what
	// approving it would do.
	PolicyBase string `json:"policy_base,omitempty"`

	// Payload is kind-specific: the approver name for register_approver,
	// the new policy text for update_policy.
	Payload json.RawMessage `json:"payload,omitempty"`

	Execution *Execution `json:"execution,omitempty"`

	// RequesterCert describes the certificate the requester logged in
	// with (key id, serial, CA, validity); empty for a plain key.
	RequesterCert string `json:"requester_cert,omitempty"`
}

// Clone returns a deep copy, so callers can keep a Request the service
// goes on changing.
func (r Request) Clone() Request {
	r.Actions = slices.Clone(r.Actions)
	r.Approvals = slices.Clone(r.Approvals)
	r.Rules = cloneRules(r.Rules)
	r.Rejections = slices.Clone(r.Rejections)
	r.Why = slices.Clone(r.Why)
	r.Payload = slices.Clone(r.Payload)
	if r.Execution != nil {
		x := *r.Execution
		r.Execution = &x
	}
	return r
}

// voted reports whether user already approved or rejected r.
func (r *Request) voted(user string) bool {
	for _, v := range r.Approvals {
		if v.Approver == user {
			return true
		}
	}
	for _, v := range r.Rejections {
		if v.Approver == user {
			return true
		}
	}
	return false
}

// due reports whether r is live and past its expiry at now.
func (r *Request) due(now time.Time) bool {
	return (r.Status == StatusPending || r.Status == StatusApproved) &&
		!r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// NewRequest is what the gate passes to [Service.Create].
type NewRequest struct {
	Kind      Kind // KindCommand (default) or KindUpdatePolicy
	Actions   []ActionRef
	Target    string
	Command   string
	Why       json.RawMessage
	Requester string
	Reason    string
	// RequiredApprovals is the quorum; 0 uses Options.DefaultQuorum.
	RequiredApprovals int
	// Rules are the approvers rules of the actions that have one: every
	// line of every rule must be met by distinct approvers in its group.
	Rules []GroupRule
	// PendingTTL and ApprovalTTL are the policy's times for this request's
	// actions; 0 uses the Lifecycle's. A lifecycle time shorter than the
	// policy's still wins: the operator's limit is an upper bound.
	PendingTTL  time.Duration
	ApprovalTTL time.Duration
	// PTY: the command is to run with a terminal (see Request.PTY).
	PTY     bool
	Payload json.RawMessage
	// RequesterCert: see Request.RequesterCert.
	RequesterCert string
}

// ExecResult is what the gate reports when a released command ends.
type ExecResult struct {
	End          time.Time // zero: the service's clock
	ExitStatus   int
	OutputBytes  int64
	OutputSHA256 string
	Error        string // why it failed to run, if it did
	OutputHead   string // see Execution.OutputHead
	// Interrupted: the connection to the target was lost while the
	// command ran, so whether it finished is unknown. The request ends
	// Interrupted, not Completed, and ExitStatus means nothing.
	Interrupted bool
}

// ApproverStatus is where an approver is in registration, as OneFS names
// it.
type ApproverStatus string

const (
	// RegistrationInitiated: a secret was issued, no code confirmed yet.
	RegistrationInitiated ApproverStatus = "registration_initiated"
	// PendingApproval: code confirmed while MPA was enabled; waiting for a
	// register_approver request to be approved.
	PendingApproval ApproverStatus = "pending_approval"
	// Registered: counts as an approver.
	Registered ApproverStatus = "registered"
)

// Approver is a user who can approve requests, with their TOTP state.
//
// The secret fields are persisted by the store (encrypted at rest when the
// store has a key) and never returned by [Service] methods.
type Approver struct {
	Name         string         `json:"name"`
	Status       ApproverStatus `json:"status"`
	Created      time.Time      `json:"created"`
	RegisteredAt time.Time      `json:"registered_at,omitzero"`
	// Request is the pending register_approver request, if any.
	Request string `json:"request,omitempty"`

	// Secret is the base32 TOTP secret in force. Empty until registered.
	Secret string `json:"secret,omitempty"`
	// PendingSecret is a secret issued by InitiateRegistration, not yet
	// in force.
	PendingSecret string `json:"pending_secret,omitempty"`
	// LastStep is the last TOTP time step accepted from this approver;
	// only later steps are accepted.
	LastStep int64 `json:"last_step,omitempty"`
	// Failures counts bad codes in a row; reset by a good code.
	Failures    int       `json:"failures,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// public returns a without its secrets.
func (a Approver) public() Approver {
	a.Secret = ""
	a.PendingSecret = ""
	return a
}

// Settings is the global MPA switch.
type Settings struct {
	Enabled   bool      `json:"enabled"`
	Updated   time.Time `json:"updated,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	// Policy is the gate's record of the policy in force, opaque to mpa:
	// set by RecordPolicy while MPA is off, and by the transaction that
	// approves an update_policy request (to that request's Payload). A
	// gate starts from it, so restarting a gate is no way around approval.
	Policy json.RawMessage `json:"policy,omitempty"`
}

// Registration is what [Service.InitiateRegistration] hands the new
// approver to load into an authenticator app.
type Registration struct {
	User   string `json:"user"`
	Issuer string `json:"issuer"`
	Secret string `json:"secret"` // base32
	URL    string `json:"url"`    // otpauth://totp/keyturn:USER?...
}
