package bastion

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/guard"
)

// TestGuardTail: the gate keeps a bounded tail of a guarded command's
// stderr and believes a block only with the guard's status and report.
func TestGuardTail(t *testing.T) {
	var tail tailWriter
	tail.Write(bytes.Repeat([]byte("x"), 3*maxGuardTail))
	r := guard.Report{Actions: []string{"kill_process"}, Observed: "/usr/bin/kill 1, started by bash"}
	var b bytes.Buffer
	r.Write(&b)
	tail.Write(b.Bytes())
	if len(tail.buf) > maxGuardTail {
		t.Fatalf("tail holds %d bytes", len(tail.buf))
	}
	got := tail.report(guard.ExitBlocked)
	if got == nil || got.Observed != r.Observed {
		t.Fatalf("report %+v", got)
	}
	if tail.report(0) != nil || tail.report(1) != nil {
		t.Fatal("a report without the guard's status was believed")
	}
	var plain tailWriter
	plain.Write([]byte("exit 121 by itself\n"))
	if plain.report(guard.ExitBlocked) != nil {
		t.Fatal("status 121 without a report was taken as a block")
	}
}

func TestObservedDecision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.yaml")
	os.WriteFile(path, []byte(`version: 1
defaults:
  required_approvals: 2
actions:
  - name: kill_process
    service: process
    required_approvals: 3
    reason: required
    match:
      - command: kill
`), 0o600)
	pol, err := LoadPolicy(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{policy: pol}
	d := g.observedDecision(&guard.Report{Actions: []string{"kill_process", "gone_action"}, Observed: "kill(1, SIGTERM) by bash"})
	if d.Quorum != 3 || !d.ReasonRequired || len(d.Actions) != 2 || d.Actions[0].Service != "process" {
		t.Fatalf("decision %+v", d)
	}
	if !strings.Contains(d.Message(), "observed on the target by keyturn-guard: kill(1, SIGTERM) by bash") {
		t.Fatalf("message %q", d.Message())
	}
}
