package mpacli

import (
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
)

// With one chain per gate (etcd) two gates' events share numbers: list
// names the chain before the number; one gate's trail reads as before.
func TestAuditListNamesChains(t *testing.T) {
	for _, c := range []struct {
		e    audit.Event
		want string
	}{
		{audit.Event{Seq: 12}, "12"},
		{audit.Event{Chain: "gate-a", Seq: 12}, "gate-a/12"},
		{audit.Event{Chain: "gate\x1b[2J", Seq: 1}, `gate\x1b[2J/1`},
	} {
		if got := eventSeq(c.e); got != c.want {
			t.Errorf("eventSeq(%+v) = %q; want %q", c.e, got, c.want)
		}
	}
}
