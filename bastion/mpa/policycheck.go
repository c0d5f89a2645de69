package mpa

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrPolicyStale means a release was refused because the policy this gate
// enforces is not the approved policy on record in the store: another gate
// put a change into force that this gate has not loaded yet. The gate
// loads the record and tries again; until it has, it releases nothing.
var ErrPolicyStale = errors.New("mpa: this gate's policy is not the approved policy on record")

// policyCheck holds the function set by SetPolicyCheck.
type policyCheck = atomic.Pointer[func(record []byte) error]

// SetPolicyCheck makes every release ([Service.BeginExecution]) ask check,
// inside the releasing transaction, whether the gate enforces the policy
// record read in that transaction (Settings.Policy). A non-nil answer
// refuses the release with [ErrPolicyStale]. Because the record is read in
// the transaction, a policy approved on another gate that commits before
// the release either is seen by the check or makes the release conflict
// and run again: no gate releases a request after a policy change went
// into force without enforcing it. The check runs only while MPA is on
// and a record exists (with MPA off each gate's file is in force).
func (s *Service) SetPolicyCheck(check func(record []byte) error) {
	s.policyCheck.Store(&check)
}

// checkPolicyTx runs the policy check against the record in tx.
func (s *Service) checkPolicyTx(tx Tx) error {
	check := s.policyCheck.Load()
	if check == nil || *check == nil {
		return nil
	}
	st, err := tx.GetSettings()
	if err != nil {
		return err
	}
	if !st.Enabled || len(st.Policy) == 0 {
		return nil
	}
	if err := (*check)(st.Policy); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicyStale, err)
	}
	return nil
}
