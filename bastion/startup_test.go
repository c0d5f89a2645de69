package bastion

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/policy"
)

// A broken policies.yaml on disk is remembered for approvers to see, the
// last good policy stays in force, and fixing the file is logged.
func TestPolicyProblemAndFix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policies.yaml")
	good := "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := LoadPolicy(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if p := h.Problem(); p != "" {
		t.Fatalf("Problem on a good file = %q", p)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(good, "service:", "quorom: 2\n    service:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err == nil {
		t.Fatal("Reload accepted a broken file")
	}
	if p := h.Problem(); !strings.Contains(p, `unknown field "quorom"`) {
		t.Errorf("Problem = %q; want the parse error", p)
	}
	if d := h.Decide(policy.Input{Command: "kill 1"}); d.Verdict != policy.Hold {
		t.Errorf("with a broken file the last good policy must stay in force; kill is %v", d.Verdict)
	}
	if err := os.WriteFile(path, []byte(good+"  - name: reboot\n    service: host\n    match: [{command: reboot}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if p := h.Problem(); p != "" {
		t.Errorf("Problem after the fix = %q; want none", p)
	}
	if !strings.Contains(logs.String(), "policy file loads again") {
		t.Errorf("the fix was not logged:\n%s", logs.String())
	}
}

func TestQuorumWarnings(t *testing.T) {
	acts := []policy.Action{{Name: "kill_process", RequiredApprovals: 2}, {Name: "reboot", RequiredApprovals: 3}}
	got := QuorumWarnings(acts, 2)
	if len(got) != 1 || !strings.HasPrefix(got[0], "action reboot needs 3 approvals but only 2 approvers are registered") {
		t.Errorf("QuorumWarnings = %q", got)
	}
	if got := QuorumWarnings(acts, 3); len(got) != 0 {
		t.Errorf("QuorumWarnings with enough approvers = %q", got)
	}
}
