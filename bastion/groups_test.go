package bastion

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

const groupsTestPolicy = `version: 1
actions:
  - name: delete_snapshot
    service: storage
    match: [{command: zfs, args: [destroy]}]
    approvers:
      - {group: storage, count: 2}
      - {group: security, count: 1}
  - name: reboot
    service: host
    match: [{command: reboot}]
    approvers:
      - {group: storage, count: 1}
      - {group: security, count: 1}
  - name: kill_process
    service: process
    match: [{command: kill}]
    approvers: [{group: oncall-db}]
`

func groupsConfig(t *testing.T, users string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "keyturn.yaml"), []byte("users:\n"+users))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The policy's groups are checked where policy and config meet: a group
// no user is in is an error with the rule's position; too few approvers
// in a rule's groups is a warning, counting a person in two groups once.
func TestCheckApproverGroups(t *testing.T) {
	p, err := policy.Parse("policies.yaml", []byte(groupsTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFg3pES1bdAtbco31SV6gaCUvkniuH2nTLqNOTfIFwWi x"
	cfg := groupsConfig(t, `  - name: carol
    roles: [approver]
    groups: [storage, security]
    keys: ["`+key+`"]
`)
	errs, warns := CheckApproverGroups(cfg, p)
	if len(errs) != 1 || !strings.HasPrefix(errs[0], `policies.yaml:18:25: action "kill_process": approvers: group "oncall-db": no user in`) {
		t.Fatalf("errors %q; want one naming oncall-db at its position", errs)
	}
	want := []string{
		"action delete_snapshot needs 2 approvers from group storage but it has only 1 user with the approver role",
		"action reboot needs 2 distinct approvers from its groups but they have only 1 user with the approver role (one person counts once); its requests are refused",
	}
	if !slices.Equal(warns, want) {
		t.Fatalf("warnings:\n%q\nwant:\n%q", warns, want)
	}
}

// A command keyturn-guard observed carries the action's approvers rule
// into its request, as the gate's own decisions do.
func TestObservedDecisionCarriesApprovers(t *testing.T) {
	pol := mustPolicy(t, groupsTestPolicy)
	g := &Gate{policy: pol}
	d := g.observedDecision(&guard.Report{Actions: []string{"kill_process"}, Observed: "kill(1, SIGTERM) by bash"})
	if len(d.Approvers) != 1 || d.Approvers[0].Action != "kill_process" || d.Approvers[0].Lines[0].Group != "oncall-db" {
		t.Fatalf("approvers %+v; want kill_process's oncall-db rule", d.Approvers)
	}
	rules := mpawords.Rules(d.Approvers)
	if len(rules) != 1 || rules[0].Lines[0].Group != "oncall-db" || rules[0].Lines[0].Count != 1 {
		t.Fatalf("request rules %+v", rules)
	}
}
