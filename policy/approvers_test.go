package policy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const groupsPolicy = `version: 1
actions:
  - name: delete_snapshot
    service: storage
    match: [{command: zfs, args: [destroy]}]
    approvers:
      - {group: storage, count: 1}
      - {group: security, count: 1}
  - name: kill_process
    service: process
    match: [{command: kill}]
    approvers: [{group: oncall-db}]
  - name: reboot
    service: host
    required_approvals: 3
    match: [{command: reboot}]
    approvers: [{group: ops, count: 2}]
  - name: restart
    service: host
    match: [{command: systemctl, args: [restart]}]
`

func TestApproversParse(t *testing.T) {
	p, err := Parse("p.yaml", []byte(groupsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	acts := p.Actions()
	want := map[string]struct {
		lines  []ApproverLine
		quorum int
	}{
		// Without required_approvals, the quorum is the lines' sum, not
		// the default 2.
		"delete_snapshot": {[]ApproverLine{{"storage", 1}, {"security", 1}}, 2},
		"kill_process":    {[]ApproverLine{{"oncall-db", 1}}, 1},
		// An explicit quorum above the sum: the rest from any approver.
		"reboot": {[]ApproverLine{{"ops", 2}}, 3},
		// No approvers: any approver, the default quorum.
		"restart": {nil, 2},
	}
	for _, a := range acts {
		w := want[a.Name]
		if diff := cmp.Diff(w.lines, a.Approvers); diff != "" || a.RequiredApprovals != w.quorum {
			t.Errorf("%s: quorum %d (want %d), lines diff (-want +got):\n%s", a.Name, a.RequiredApprovals, w.quorum, diff)
		}
	}
	if diff := cmp.Diff([]string{"storage", "security", "oncall-db", "ops"}, p.Groups()); diff != "" {
		t.Errorf("Groups() (-want +got):\n%s", diff)
	}
}

func TestApproversInDecision(t *testing.T) {
	p, err := Parse("p.yaml", []byte(groupsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	// A line with several actions carries every action's rule.
	d := p.Decide(Input{Command: "zfs destroy tank@x; kill 1; systemctl restart x"})
	want := []ApproverRule{
		{Action: "delete_snapshot", Lines: []ApproverLine{{"storage", 1}, {"security", 1}}},
		{Action: "kill_process", Lines: []ApproverLine{{"oncall-db", 1}}},
	}
	if d.Verdict != Hold || d.Quorum != 2 {
		t.Fatalf("decision %s quorum %d; want hold, 2", d.Verdict, d.Quorum)
	}
	if diff := cmp.Diff(want, d.Approvers); diff != "" {
		t.Fatalf("approvers (-want +got):\n%s", diff)
	}
	// The rule survives the decision's JSON (what the gate logs and
	// 'policy test --json' prints).
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Decision
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, back.Approvers); diff != "" {
		t.Fatalf("approvers after JSON (-want +got):\n%s", diff)
	}
	// An action without a rule carries none.
	if d := p.Decide(Input{Command: "systemctl restart x"}); d.Approvers != nil {
		t.Fatalf("restart carries %v; want no rule", d.Approvers)
	}
}

func TestApproversErrors(t *testing.T) {
	head := "version: 1\nactions:\n  - name: snap\n    service: s\n    match: [{command: zfs}]\n"
	tests := []struct{ body, want string }{
		{"    approvers: storage\n", `p.yaml:6:16: action "snap": approvers: want a list of {group, count}, got "storage"`},
		{"    approvers: []\n", `p.yaml:6:16: action "snap": approvers: empty list (leave it out for any approver)`},
		{"    approvers: [{count: 1}]\n", `p.yaml:6:17: action "snap": approvers[0]: missing field "group"`},
		{"    approvers: [{group: Storage}]\n", `p.yaml:6:25: action "snap": approvers[0]: group "Storage": want lower case letters, digits, - and _`},
		{"    approvers: [{group: s, count: 0}]\n", `p.yaml:6:35: action "snap": approvers[0]: count: 0 is less than 1 (the requester never counts, so at least one other person must approve)`},
		{"    approvers: [{group: s, count: 33}]\n", `p.yaml:6:35: action "snap": approvers[0]: count 33 is more than 32`},
		{"    approvers: [{group: s}, {group: s}]\n", `p.yaml:6:37: action "snap": approvers[1]: group "s" has a line already; give it one line with the count it needs`},
		{"    approvers: [{group: s, cuont: 1}]\n", `p.yaml:6:28: action "snap": approvers[0]: unknown field "cuont"; did you mean "count"?`},
		{"    required_approvals: 1\n    approvers: [{group: a}, {group: b}]\n", `p.yaml:7:16: action "snap": approvers: the lines need 2 distinct approvers but required_approvals is 1; raise it or leave it out`},
	}
	for _, tt := range tests {
		_, err := Parse("p.yaml", []byte(head+tt.body))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.body, err, tt.want)
		}
	}
}
