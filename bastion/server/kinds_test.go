package server

import (
	"testing"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/metrics"
)

// The gate names its session kinds without importing metrics; the
// metrics' labels must be the same words, or a session is counted under
// a label no dashboard reads.
func TestSessionKindsAreMetricsLabels(t *testing.T) {
	for kind, label := range map[bastion.SessionKind]string{
		bastion.SessionTarget:  metrics.SessionTarget,
		bastion.SessionGate:    metrics.SessionGate,
		bastion.SessionConsole: metrics.SessionConsole,
	} {
		if string(kind) != label {
			t.Errorf("gate session kind %q, metrics label %q", kind, label)
		}
	}
}
