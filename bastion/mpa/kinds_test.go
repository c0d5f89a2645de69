package mpa

import (
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
)

// A transition's audit kind is KindRequestPrefix and the status name; each
// must be one of audit's named kinds, which metrics, notify and the console
// switch on. A status renamed without its kind would otherwise be an event
// nobody counts.
func TestTransitionKindsAreNamed(t *testing.T) {
	named := map[string]bool{
		audit.KindRequestApproved: true, audit.KindRequestRejected: true, audit.KindRequestCancelled: true,
		audit.KindRequestExecuting: true, audit.KindRequestCompleted: true, audit.KindRequestExpired: true,
		audit.KindRequestInterrupted: true,
	}
	for _, s := range Statuses() {
		if s == StatusPending {
			continue // a request enters pending by KindRequestCreated
		}
		if k := audit.KindRequestPrefix + s.String(); !named[k] {
			t.Errorf("status %v: transition kind %q is not one of audit's Kind constants", s, k)
		}
	}
}
