package mpawords

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Subject is who met an error and on what, for the sentence. Every field
// is optional.
type Subject struct {
	// Who is the approver or requester the sentence is about; "" reads
	// "you" (the console speaks to its viewer).
	Who string
	// Request is the request's id; "" for a registration.
	Request string
	// Status is the request's status now, if the caller looked it up,
	// for "already decided: it is rejected".
	Status string
	// TriesLeft says how many wrong codes are left before the lock, if
	// the caller knows ("4 tries left before a 5-minute lock").
	TriesLeft string
	// LockFor is how long a lockout lasts, if the caller knows.
	LockFor time.Duration
}

// sentinels lists every error of mpa's that a person can meet, with the
// exit statuses it ends with: as a gate command (mpa ..., the console)
// and as a session (a held command, a release). A test checks that this
// list is every sentinel mpa declares.
var sentinels = []struct {
	err              error
	command, session int
}{
	{mpa.ErrNotLeader, exitcode.Failure, exitcode.Internal},
	{mpa.ErrGateIDInUse, exitcode.Failure, exitcode.Internal},
	{mpa.ErrGatesLive, exitcode.Failure, exitcode.Internal},
	{mpa.ErrNotFound, exitcode.Failure, exitcode.Denied},
	{mpa.ErrNotPending, exitcode.Decided, exitcode.Denied},
	{mpa.ErrSelfApproval, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrAlreadyVoted, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNotApprover, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNotAllowed, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNotInGroup, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNotRequester, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNotApproved, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrAlreadyReleased, exitcode.Decided, exitcode.Denied},
	{mpa.ErrNotExecuting, exitcode.Failure, exitcode.Internal},
	{mpa.ErrExpired, exitcode.Decided, exitcode.Expired},
	// The wrong code that locks an approver out is the bad code joined
	// with the lockout: it ends as a lockout, as its sentence says, so
	// ErrLockedOut comes before the codes.
	{mpa.ErrLockedOut, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrBadCode, exitcode.BadCode, exitcode.Denied},
	{mpa.ErrReplayedCode, exitcode.BadCode, exitcode.Denied},
	{mpa.ErrNotEnoughApprovers, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrAlreadyRegistered, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrNoRegistration, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrRegistrationPending, exitcode.NotPermitted, exitcode.Denied},
	{mpa.ErrInvalid, exitcode.Usage, exitcode.Usage},
	{mpa.ErrStoreFull, exitcode.Failure, exitcode.Unavailable},
	{mpa.ErrConflict, exitcode.Failure, exitcode.Internal},
	{mpa.ErrPolicyStale, exitcode.Failure, exitcode.Denied},
	{mpa.ErrNoOutputStore, exitcode.Failure, exitcode.Internal},
}

// Sentinels returns every mpa error [Error] has words for, in the order
// [Code] reads them (mpa's, but for the lockout before the codes).
func Sentinels() []error {
	out := make([]error, len(sentinels))
	for i, s := range sentinels {
		out[i] = s.err
	}
	return out
}

// Known reports whether err is (or wraps) one of mpa's sentinel errors,
// so [Error] has a sentence of its own for it.
func Known(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return true
		}
	}
	return false
}

// Code is the exit status err ends with in family f (exitcode.Command or
// exitcode.Session): the first sentinel err matches decides. An error of
// no sentinel is the gate's failure: Failure for a command, Internal for
// a session.
func Code(err error, f exitcode.Family) int {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			if f == exitcode.Session {
				return s.session
			}
			return s.command
		}
	}
	if f == exitcode.Session {
		return exitcode.Internal
	}
	return exitcode.Failure
}

// Error is how err from the mpa service reads to a person, in one
// sentence without a "keyturn:" prefix, and the exit status it ends with
// in family f. The service has logged the cause; the sentence says what
// it means for the person and what to do. An error that is none of mpa's
// reads as its own text, without mpa's "mpa: " prefixes.
func Error(err error, f exitcode.Family, s Subject) (string, int) {
	return sentence(err, s), Code(err, f)
}

func sentence(err error, s Subject) string {
	you := s.Who == ""
	who, is := s.Who, "is"
	if you {
		who, is = "you", "are"
	}
	var locked *mpa.LockedOutError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &locked):
		return fmt.Sprintf("%s %s locked out after too many wrong TOTP codes, until %s", who, is, locked.Until.UTC().Format("15:04:05 UTC"))
	case errors.Is(err, mpa.ErrLockedOut):
		wait := "wait and try again"
		if s.LockFor > 0 {
			wait = fmt.Sprintf("try again in %s", s.LockFor)
		}
		return fmt.Sprintf("%s %s locked out after too many wrong TOTP codes; %s", who, is, wait)
	case errors.Is(err, mpa.ErrBadCode):
		hint := s.TriesLeft
		if hint == "" {
			hint = "check the code in your authenticator app"
		}
		if you {
			return "wrong TOTP code; " + hint
		}
		return fmt.Sprintf("wrong TOTP code for %s; %s", who, hint)
	case errors.Is(err, mpa.ErrReplayedCode):
		code := "that TOTP code"
		if !you {
			code += " for " + who
		}
		return code + " was already used; wait for the next one (codes change every 30 s)"
	case errors.Is(err, mpa.ErrNotPending), errors.Is(err, mpa.ErrAlreadyReleased):
		status := s.Status
		if status == "" {
			status = statusIn(err)
		}
		if status == "" {
			return fmt.Sprintf("%s was already decided", request(s))
		}
		return fmt.Sprintf("%s was already decided: it is %s", request(s), status)
	case errors.Is(err, mpa.ErrExpired):
		return fmt.Sprintf("%s expired; it needs a new request", request(s))
	case errors.Is(err, mpa.ErrSelfApproval):
		if you {
			return "this is your own request: another approver must decide it"
		}
		return fmt.Sprintf("%s cannot vote on their own request %s; another approver must", who, s.Request)
	case errors.Is(err, mpa.ErrAlreadyVoted):
		return fmt.Sprintf("%s already voted on %s", who, orThis(s.Request))
	case errors.Is(err, mpa.ErrNotApprover):
		return fmt.Sprintf("%s %s not a registered approver (register with: mpa initiate-registration)", who, is)
	case errors.Is(err, mpa.ErrNotAllowed):
		return fmt.Sprintf("%s may not approve the actions of %s", who, orThis(s.Request))
	case errors.Is(err, mpa.ErrNotInGroup):
		if s.Request == "" {
			return fmt.Sprintf("%s %s in none of the groups this request needs", who, is)
		}
		return fmt.Sprintf("%s %s in none of the groups %s needs (see its lines: mpa requests view %s)", who, is, s.Request, s.Request)
	case errors.Is(err, mpa.ErrNotRequester):
		return fmt.Sprintf("only the requester of %s may cancel or run it", orThis(s.Request))
	case errors.Is(err, mpa.ErrNotApproved):
		return fmt.Sprintf("%s is not approved, so it cannot run", request(s))
	case errors.Is(err, mpa.ErrNotFound):
		if s.Request == "" {
			return "not found"
		}
		return fmt.Sprintf("no request %s (see: mpa requests list)", s.Request)
	case errors.Is(err, mpa.ErrNoRegistration):
		return "no registration started (start one with: mpa initiate-registration)"
	case errors.Is(err, mpa.ErrRegistrationPending):
		return fmt.Sprintf("the registration of %s is already waiting for approval", who)
	case errors.Is(err, mpa.ErrAlreadyRegistered):
		return fmt.Sprintf("%s %s already a registered approver (replace the secret with: mpa initiate-registration --force)", who, is)
	case errors.Is(err, mpa.ErrStoreFull):
		return "the gate's disk is full, so it cannot record anything new (reading requests and the audit trail still works)"
	case errors.Is(err, mpa.ErrInvalid):
		return "invalid input: " + plain(err)
	case errors.Is(err, mpa.ErrConflict):
		return "the store was too busy to record it; try again"
	case errors.Is(err, mpa.ErrNotLeader), errors.Is(err, mpa.ErrGateIDInUse), errors.Is(err, mpa.ErrGatesLive),
		errors.Is(err, mpa.ErrNotEnoughApprovers), errors.Is(err, mpa.ErrNotExecuting),
		errors.Is(err, mpa.ErrPolicyStale), errors.Is(err, mpa.ErrNoOutputStore):
		// The service's own text says it best; it carries the numbers.
		return plain(err)
	}
	return plain(err)
}

// plain is err's text without the "mpa: " the service's sentinels carry
// for logs.
func plain(err error) string {
	return strings.ReplaceAll(err.Error(), "mpa: ", "")
}

// statusIn reads the status the service put in a "not pending" error
// ("...: it is rejected"), or "".
func statusIn(err error) string {
	const marker = "it is "
	s := err.Error()
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return ""
}

func request(s Subject) string {
	if s.Request == "" {
		return "the request"
	}
	return "request " + s.Request
}

func orThis(id string) string {
	if id == "" {
		return "this request"
	}
	return id
}
