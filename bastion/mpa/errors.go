package mpa

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotLeader means a transaction fenced by a [Leadership] found the
	// term over: another gate leads now.
	ErrNotLeader = errors.New("mpa: no longer the leader")

	// ErrGateIDInUse means another live gate has joined the store with
	// the same gate_id.
	ErrGateIDInUse = errors.New("mpa: gate_id in use by another live gate")

	// ErrGatesLive means break-glass was refused because gates are
	// running on the store: it is for when every gate is stopped.
	ErrGatesLive = errors.New("mpa: gates are live on this store; stop them all before break-glass")

	// ErrNotFound means no request (or approver) has that id (or name). A
	// finished request past its retention is not found either.
	ErrNotFound = errors.New("mpa: not found")

	// ErrNotPending means the request was already decided (approved,
	// rejected, cancelled, expired...) so it takes no more votes.
	ErrNotPending = errors.New("mpa: request is not pending (already decided)")

	// ErrSelfApproval means the requester tried to approve or reject their
	// own request.
	ErrSelfApproval = errors.New("mpa: requester cannot approve their own request")

	// ErrAlreadyVoted means this approver already approved or rejected the
	// request; each approver counts at most once.
	ErrAlreadyVoted = errors.New("mpa: approver already voted on this request")

	// ErrNotApprover means the user is not a registered approver.
	ErrNotApprover = errors.New("mpa: not a registered approver")

	// ErrNotAllowed means the approver's roles do not allow approving the
	// request's actions.
	ErrNotAllowed = errors.New("mpa: not allowed to approve these actions")

	// ErrNotInGroup means the approver is in none of the groups the
	// request's approvers rules need, so their vote could never count.
	ErrNotInGroup = errors.New("mpa: in none of the groups this request needs")

	// ErrNotRequester means only the requester may do this (cancel, run).
	ErrNotRequester = errors.New("mpa: only the requester may do this")

	// ErrNotApproved means the request cannot be released because it is not
	// approved (still pending, or rejected, cancelled...).
	ErrNotApproved = errors.New("mpa: request is not approved")

	// ErrAlreadyReleased means the request was already released (executing,
	// completed or interrupted); an approval releases one run only.
	ErrAlreadyReleased = errors.New("mpa: request was already released")

	// ErrNotExecuting means a finish was reported for a request that is not
	// executing.
	ErrNotExecuting = errors.New("mpa: request is not executing")

	// ErrExpired means the request (or its approval) expired; it is now
	// Expired and a new request is needed.
	ErrExpired = errors.New("mpa: request expired")

	// ErrBadCode means the TOTP code does not match the approver's secret
	// within one time step either way. It counts towards lockout.
	ErrBadCode = errors.New("mpa: invalid TOTP code")

	// ErrReplayedCode means the TOTP code is valid but for a time step no
	// later than one the approver already used: a replayed or older code.
	// It counts towards lockout.
	ErrReplayedCode = errors.New("mpa: TOTP code already used (replayed or older than the last one)")

	// ErrLockedOut means the approver gave too many bad codes in a row and
	// must wait; errors.As with *[LockedOutError] gives until when.
	ErrLockedOut = errors.New("mpa: approver locked out after too many failed codes")

	// ErrNotEnoughApprovers means MPA cannot be enabled with fewer than two
	// registered approvers.
	ErrNotEnoughApprovers = errors.New("mpa: enabling needs at least two registered approvers")

	// ErrAlreadyRegistered means the user is already a registered approver;
	// re-registering needs force.
	ErrAlreadyRegistered = errors.New("mpa: already a registered approver")

	// ErrNoRegistration means complete-registration was called without an
	// initiated registration.
	ErrNoRegistration = errors.New("mpa: no registration initiated")

	// ErrRegistrationPending means a register_approver request for this
	// user is already waiting for approval.
	ErrRegistrationPending = errors.New("mpa: registration already waiting for approval")

	// ErrInvalid means the caller passed a malformed argument (bad kind, no
	// command, valid-before in the past...).
	ErrInvalid = errors.New("mpa: invalid argument")

	// ErrStoreFull means the store refused a write because its disk is
	// (nearly) full. Nothing was written; reads still work, and writes
	// work again once space is freed.
	ErrStoreFull = errors.New("mpa: store full: no space for new records")

	// ErrConflict is what a Store returns when it gave up retrying a
	// transaction that kept conflicting with concurrent writers.
	ErrConflict = errors.New("mpa: store transaction conflict")
)

// LockedOutError is the error for a locked-out approver. It matches
// [ErrLockedOut] with errors.Is.
type LockedOutError struct {
	User  string
	Until time.Time
}

func (e *LockedOutError) Error() string {
	return fmt.Sprintf("mpa: approver %s locked out until %s after too many failed codes",
		e.User, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLockedOut) true.
func (e *LockedOutError) Is(target error) bool { return target == ErrLockedOut }
