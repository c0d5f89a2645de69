package mpa

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyturn/keyturn/bastion/audit"
)

// TOTP parameters: RFC 6238 defaults, what every authenticator app and
// oathtool produce without options.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps accepted either side of now
	issuer     = "keyturn"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// matchStep returns the time step (now-1, now or now+1 periods) whose code
// is code. It computes each candidate itself rather than calling
// totp.Validate because replay protection needs to know which step
// matched. Every candidate is computed and compared in constant time.
func matchStep(secret, code string, now time.Time) (int64, bool, error) {
	cur := now.Unix() / totpPeriod
	var found int64
	ok := false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false, fmt.Errorf("totp code for step %d: %w", step, err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true // the latest matching step wins
		}
	}
	return found, ok, nil
}

// checkCode verifies code against secret at now, accepting only a step
// later than lastStep. It returns the step to record, or ErrBadCode /
// ErrReplayedCode.
func checkCode(secret, code string, lastStep int64, now time.Time) (int64, error) {
	if secret == "" {
		return 0, ErrNotApprover
	}
	step, ok, err := matchStep(secret, code, now)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrBadCode
	}
	if step <= lastStep {
		return 0, ErrReplayedCode
	}
	return step, nil
}

// lockedOut returns a *LockedOutError if a is locked out at now.
func lockedOut(a *Approver, now time.Time) error {
	if now.Before(a.LockedUntil) {
		return &LockedOutError{User: a.Name, Until: a.LockedUntil}
	}
	return nil
}

// failCode records a bad or replayed code against a in tx, locking a out
// when the failures in a row reach the threshold, and audits it. The
// caller commits the transaction and returns the returned error, so the
// counter persists although the operation failed.
func (s *Service) failCode(tx Tx, a *Approver, cause error, purpose string, r *Request) error {
	now := s.clock()
	a.Failures++
	kind := audit.KindTOTPFailed
	if cause == ErrReplayedCode {
		kind = audit.KindTOTPReplayed
	}
	data := map[string]any{"purpose": purpose, "failures": a.Failures, "error": cause.Error()}
	var locked error
	if a.Failures >= s.threshold {
		a.LockedUntil = now.Add(s.lockFor)
		a.Failures = 0
		locked = &LockedOutError{User: a.Name, Until: a.LockedUntil}
		data["locked_until"] = a.LockedUntil
	}
	if err := tx.PutApprover(*a); err != nil {
		return err
	}
	if err := s.audit(tx, kind, a.Name, r, data); err != nil {
		return err
	}
	if locked != nil {
		if err := s.audit(tx, audit.KindTOTPLockout, a.Name, r, map[string]any{"until": a.LockedUntil}); err != nil {
			return err
		}
		s.log.Warn("mpa approver locked out", "user", a.Name, "until", a.LockedUntil)
		return fmt.Errorf("%w; %w", cause, locked)
	}
	s.log.Warn("mpa bad totp code", "user", a.Name, "purpose", purpose, "verdict", kind)
	return cause
}

// auditLocked records an attempt by a locked-out approver.
func (s *Service) auditLocked(tx Tx, a *Approver, purpose string, r *Request) error {
	return s.audit(tx, audit.KindTOTPLockedOut, a.Name, r,
		map[string]any{"purpose": purpose, "until": a.LockedUntil})
}
