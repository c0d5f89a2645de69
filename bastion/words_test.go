package bastion

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/policy"
)

type fakeDescs []policy.Action

func (f fakeDescs) Actions() []policy.Action { return f }

func TestExplainHold(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\nactions:\n  - name: kill_process\n    service: process\n    description: stop or signal a process\n    required_approvals: 2\n    match: [{command: kill}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := "sudo kill -9 1"
	d := p.Decide(policy.Input{Command: cmd})
	got := strings.Join(explain(cmd, d, fakeDescs(p.Actions())), "\n")
	want := "held for approval: kill_process (stop or signal a process)\n" +
		"  kill_process (match rule 1): via sudo\n" +
		"    sudo kill -9 1\n" +
		"         ^^^^"
	if !strings.HasPrefix(got, "held for approval: kill_process (stop or signal a process)\n  kill_process (match rule 1)") ||
		!strings.Contains(got, "    sudo kill -9 1\n         ^^^^") {
		t.Errorf("explain =\n%s\nwant like\n%s", got, want)
	}
	for _, bad := range []string{"actions[", "match[", "@5-9", "approval needed"} {
		if strings.Contains(got, bad) {
			t.Errorf("explain shows %q to a person:\n%s", bad, got)
		}
	}
}

func TestExpiresIn(t *testing.T) {
	now := time.Date(2026, 12, 1, 22, 27, 10, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{7*24*time.Hour - time.Hour - 10*time.Second, "in 6d 22h (2026-12-08 21:27 UTC)"},
		{4*time.Hour + 5*time.Minute, "in 4h 5m (2026-12-02 02:32 UTC)"},
		{200 * time.Second, "in 3m 20s (2026-12-01 22:30 UTC)"},
		{45 * time.Second, "in 45s (2026-12-01 22:27 UTC)"},
	} {
		if got := expiresIn(now.Add(c.d), now); got != c.want {
			t.Errorf("expiresIn(now+%v) = %q; want %q", c.d, got, c.want)
		}
	}
}

func TestRuleNumber(t *testing.T) {
	for id, want := range map[string]string{"actions[3].match[0]": "match rule 1", "deny[0].match[2]": "match rule 3", "": "", "wrappers[1]": ""} {
		if got := ruleNumber(id); got != want {
			t.Errorf("ruleNumber(%q) = %q; want %q", id, got, want)
		}
	}
}

// The "reason required" refusal suggests ssh -t only when the policy lets
// the line have a terminal (shell: hold); otherwise (shell: deny, the
// default) the SetEnv form alone, since ssh -t would end in a denial.
func TestReasonRefusalSuggestsTerminalOnlyWhenAllowed(t *testing.T) {
	for _, tc := range []struct {
		shell   string
		wantTTY bool
	}{
		{"deny", false},
		{"hold", true},
	} {
		tg := startTestGate(t, "version: 1\ndefaults: {required_approvals: 1, reason: required}\nshell: "+tc.shell+"\n"+
			"actions:\n  - name: kill_process\n    service: process\n    match: [{command: [kill, pkill]}]\n")
		tg.register(t, "carol")
		// An unresolved line is held even with approval off.
		_, stderr, status := tg.run(t, "alice+t1", tg.alice, "X=$(printf kill); $X -0 1")
		if status != exitcode.Usage || !strings.Contains(stderr, "a reason is required") {
			t.Fatalf("shell: %s: status %d stderr %q; want %d and the reason refusal", tc.shell, status, stderr, exitcode.Usage)
		}
		if got := strings.Contains(stderr, "ssh -t"); got != tc.wantTTY {
			t.Errorf("shell: %s: suggests ssh -t: %v; want %v (stderr %q)", tc.shell, got, tc.wantTTY, stderr)
		}
		if !strings.Contains(stderr, "SetEnv=KEYTURN_REASON") {
			t.Errorf("shell: %s: no SetEnv form: %q", tc.shell, stderr)
		}
	}
}

func TestRuleLine(t *testing.T) {
	text := []byte("version: 1\nactions:\n  - name: a\n    service: s\n    match:\n      - command: kill\n      - command: pkill\n" +
		"  - name: b\n    service: s\n    match: [{command: zfs}]\ndeny:\n  - name: d\n    match:\n      - command: rm\n")
	for id, want := range map[string]int{
		"actions[0].match[0]": 6, "actions[0].match[1]": 7, "actions[1].match[0]": 10, "deny[0].match[0]": 14,
		"actions[2].match[0]": 0, "actions[0].match[5]": 0, "wrappers[0]": 0,
	} {
		if got := ruleLine(text, id); got != want {
			t.Errorf("ruleLine(%s) = %d; want %d", id, got, want)
		}
	}
}

// The hold message names the rule by its action and its line in the
// policy file in force.
func TestExplainNamesRuleLine(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/policies.yaml"
	text := "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match:\n      - command: kill\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadPolicy(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d := h.Decide(policy.Input{Command: "kill 1"})
	got := strings.Join(explain("kill 1", d, h), "\n")
	if !strings.Contains(got, "  kill_process (policies.yaml line 6)") {
		t.Errorf("explain =\n%s\nwant the rule's line", got)
	}
}
