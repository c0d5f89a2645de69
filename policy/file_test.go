package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown_field.yaml", `testdata/unknown_field.yaml:5:5: action "kill_process": unknown field "quorom"; did you mean "required_approvals"?`},
		{"wrong_type.yaml", `testdata/wrong_type.yaml:3:23: defaults: required_approvals: want an integer, got "two"`},
		{"duplicate_action.yaml", `testdata/duplicate_action.yaml:6:11: actions[1]: duplicate action name "kill_process"`},
		{"empty_match.yaml", `testdata/empty_match.yaml:5:12: action "kill_process": match: empty match list`},
		{"bad_glob.yaml", `testdata/bad_glob.yaml:6:15: action "snap": targets: bad glob "nas-[1"`},
		{"quorum_zero.yaml", `testdata/quorum_zero.yaml:5:25: action "kill_process": required_approvals: 0 is less than 1 (the requester never counts, so at least one other person must approve)`},
		{"bad_duration.yaml", `testdata/bad_duration.yaml:3:16: defaults: pending_ttl: bad duration "7 days" (want e.g. 30m, 24h, 168h)`},
		{"unknown_verdict.yaml", `testdata/unknown_verdict.yaml:2:13: unresolved: unknown verdict "allow" (want hold or deny)`},
		{"bad_yaml.yaml", `testdata/bad_yaml.yaml:2:1: did not find expected '-' indicator`},
		{"missing_version.yaml", `testdata/missing_version.yaml:1:1: missing field "version" (want version: 1)`},
		{"bad_wrapper_run.yaml", `testdata/bad_wrapper_run.yaml:4:10: wrappers[0]: run: unknown value "sometimes" (want argv, string, first_string, none or unresolved)`},
		{"command_path.yaml", `testdata/command_path.yaml:5:23: action "kill_process": match[0]: command "/bin/kill": want a command name without a directory`},
		{"args_not_list.yaml", `testdata/args_not_list.yaml:7:15: action "kill_process": match[0]: args: want a list of strings, got "kill"`},
		{"unknown_top.yaml", `testdata/unknown_top.yaml:2:1: unknown field "reason"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatalf("Load(%s) = nil error; want %q", tt.file, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Load(%s) error:\n got %s\nwant %s", tt.file, err, tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("Load(%s) error is %T; want *Error", tt.file, err)
			}
		})
	}
}

// TestFieldErrors: each kind of field a mapping of the file has (required,
// optional, in a list, nested, checked after it is read) names the first
// bad field with its position; an action with two bad fields names the
// one the decoder reads first (pending_ttl before targets).
func TestFieldErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"actions:\n  - name: k\n    match: [{command: kill}]\n", `p.yaml:3:5: action "k": missing field "service"`},
		{"actions:\n  - name: k\n    service: s\n", `p.yaml:3:5: action "k": missing field "match"`},
		{"actions:\n  - service: s\n    match: [{command: kill}]\n", `p.yaml:3:5: actions[0]: missing field "name"`},
		{"actions:\n  - name: k\n    service: s\n    match: [{command: kill}]\n    pending_ttl: soon\n    targets: [\"[\"]\n", `p.yaml:6:18: action "k": pending_ttl: bad duration "soon" (want e.g. 30m, 24h, 168h)`},
		{"actions:\n  - name: k\n    service: s\n    description: [x]\n    match: []\n", `p.yaml:5:18: action "k": description: want a string, got a list`},
		{"actions:\n  - name: k\n    service: s\n    match: [{command: []}]\n", `p.yaml:5:23: action "k": match[0]: command: empty list`},
		{"deny:\n  - name: d\n", `p.yaml:3:5: deny rule "d": missing field "match"`},
		{"deny:\n  - name: [d]\n    match: [{command: rm}]\n", `p.yaml:3:11: deny[0]: name: want a string, got a list`},
		{"wrappers:\n  - run: argv\n", `p.yaml:3:5: wrappers[0]: missing field "command"`},
		{"wrappers:\n  - command: []\n", `p.yaml:3:14: wrappers[0]: command: empty list`},
		{"wrappers:\n  - command: w\n    operands: -1\n", `p.yaml:4:15: wrappers[0]: operands: -1 is negative`},
		{"wrappers:\n  - command: w\n    bare: maybe\n", `p.yaml:4:11: wrappers[0]: bare: unknown value "maybe" (want allow or unresolved)`},
		{"wrappers:\n  - command: w\n    abbrev: yes please\n", `p.yaml:4:13: wrappers[0]: abbrev: want true or false, got "yes please"`},
		{"wrappers:\n  - command: w\n    note: [x]\n", `p.yaml:4:11: wrappers[0]: note: want a string, got a list`},
		{"wrappers:\n  - command: w\n    permute: 1\n", `p.yaml:4:14: wrappers[0]: permute: want true or false, got "1"`},
		{"wrappers:\n  - command: w\n    subcommands: x\n", `p.yaml:4:18: wrappers[0]: subcommands: want a list, got "x"`},
		{"trusted_paths: [bin]\n", `p.yaml:2:17: trusted_paths: "bin" is not an absolute path`},
		{"trusted_paths: /bin\n", `p.yaml:2:16: trusted_paths: want a list of strings, got "/bin"`},
		{"shell: allow\n", `p.yaml:2:8: shell: unknown verdict "allow" (want hold or deny)`},
		{"persistence: [etc/x]\n", `p.yaml:2:15: persistence: "etc/x": want an absolute path or ~/path`},
		{"inert: [\"[\"]\n", `p.yaml:2:9: inert: bad glob "["`},
		{"command_variables: {}\n", `p.yaml:2:20: command_variables: want a string or a list of strings, got a mapping`},
		{"defaults:\n  reason: maybe\n", `p.yaml:3:11: defaults: reason: unknown value "maybe" (want optional or required)`},
	}
	for _, tt := range tests {
		_, err := Parse("p.yaml", []byte("version: 1\n"+tt.body))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.body, err, tt.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want os.ErrNotExist", err)
	}
}

func TestShippedPolicy(t *testing.T) {
	p := shippedPolicy(t)
	want := Defaults{RequiredApprovals: 2, PendingTTL: 168 * time.Hour, ApprovalTTL: 168 * time.Hour}
	if diff := cmp.Diff(want, p.Defaults()); diff != "" {
		t.Errorf("Defaults() (-want +got):\n%s", diff)
	}
	var names []string
	for _, a := range p.Actions() {
		names = append(names, a.Name)
	}
	if diff := cmp.Diff([]string{kp, ds, ah, dh}, names); diff != "" {
		t.Errorf("Actions() names (-want +got):\n%s", diff)
	}
	if got := p.Actions()[3].RequiredApprovals; got != 3 {
		t.Errorf("disable_hardening RequiredApprovals = %d; want 3", got)
	}
}

// The zero Verdict and the zero Decision refuse: a forgotten assignment
// fails closed.
func TestZeroVerdictIsDeny(t *testing.T) {
	var v Verdict
	if v != Deny {
		t.Errorf("zero Verdict = %v; want deny", v)
	}
	if d := (Decision{}); d.Verdict != Deny || !strings.HasPrefix(d.Message(), "denied") {
		t.Errorf("zero Decision = %v, %q; want a denial", d.Verdict, d.Message())
	}
	var back Decision
	if err := json.Unmarshal([]byte(`{"actions":[]}`), &back); err != nil || back.Verdict != Deny {
		t.Errorf("a decision without a verdict reads as %v, %v; want deny", back.Verdict, err)
	}
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{Allow, Hold, Deny} {
		b, err := v.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Verdict
		if err := back.UnmarshalText(b); err != nil || back != v {
			t.Errorf("round trip of %v = %v, %v", v, back, err)
		}
	}
	var v Verdict
	if err := v.UnmarshalText([]byte("maybe")); err == nil {
		t.Error(`UnmarshalText("maybe") = nil error`)
	}
}
