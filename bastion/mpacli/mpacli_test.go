package mpacli_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// Every level of the tree answers --help and -h on stdout with exit 0.
func TestHelpEveryLevel(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"", []string{"Usage:\n    mpa <command>", "Actions:", "initiate-registration", "Subcommands:", "requests", "settings", "audit"}},
		{"initiate-registration", []string{"mpa initiate-registration [--force]", "--force"}},
		{"complete-registration", []string{"--totp-code N"}},
		{"approvers", []string{"mpa approvers <command>", "list", "view"}},
		{"approvers list", []string{"--json"}},
		{"approvers view", []string{"mpa approvers view NAME"}},
		{"settings", []string{"global", "pa-metadata", "request-lifecycle"}},
		{"settings global", []string{"modify", "view"}},
		{"settings global view", []string{"--json"}},
		{"settings global modify", []string{"--enable=true|false", "--enable"}},
		{"settings pa-metadata", []string{"list"}},
		{"settings pa-metadata list", []string{"--json"}},
		{"settings request-lifecycle", []string{"list"}},
		{"settings request-lifecycle list", []string{"--json"}},
		{"requests", []string{"approve", "cancel", "create", "list", "reject", "run", "view"}},
		{"requests list", []string{"--status STATUS", "pending, approved"}},
		{"requests view", []string{"mpa requests view ID"}},
		{"requests create", []string{"--target T", "--reason R", "-- 'CMD'"}},
		{"requests cancel", []string{"mpa requests cancel ID"}},
		{"requests run", []string{"mpa requests run ID"}},
		{"requests approve", []string{"--totp-code N", "--comment C", "--valid-before TIME"}},
		{"requests reject", []string{"--totp-code N", "--comment C"}},
		{"audit", []string{"export", "list", "verify"}},
		{"audit list", []string{"--since TIME", "--user U", "--request ID", "--json"}},
		{"audit verify", []string{"first bad event"}},
		{"audit export", []string{"JSON Lines"}},
	} {
		for _, flag := range []string{"--help", "-h"} {
			args := append(strings.Fields(tc.path), flag)
			// mallory has no role: help is for everyone.
			r := h.run("mallory", args...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("mpa %s: exit %d, stderr %q; want 0 and none", strings.Join(args, " "), r.code, r.stderr)
				continue
			}
			for _, w := range append(tc.want, "Description:", "Usage:", "--help | -h") {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("mpa %s: help lacks %q:\n%s", strings.Join(args, " "), w, r.stdout)
				}
			}
		}
	}
}

// Usage errors exit 64 and name the command on stderr.
func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		args string
		want string
	}{
		{"", "keyturn: mpa: missing command"},
		{"frobnicate", `keyturn: mpa: unknown command "frobnicate"`},
		{"requests frobnicate", `keyturn: mpa requests: unknown command "frobnicate"`},
		{"settings global", "keyturn: mpa settings global: missing command"},
		{"complete-registration", "--totp-code is required"},
		{"initiate-registration extra", `unexpected argument "extra"`},
		{"approvers view", "keyturn: mpa approvers view: missing approver NAME"},
		{"approvers view a b", `unexpected argument "b"`},
		{"approvers list --bogus", "flag provided but not defined: -bogus"},
		{"settings global modify", "--enable=true or --enable=false is required"},
		{"settings global modify --enable=maybe", "invalid boolean value"},
		{"requests list --status pending,bogus", `unknown status "bogus"`},
		{"requests view", "missing request ID"},
		{"requests approve", "keyturn: mpa requests approve: missing request ID"},
		{"requests approve req-1", "--totp-code is required"},
		{"requests approve req-1 --totp-code 123456 --valid-before soon", "--valid-before"},
		{"requests approve req-1 --totp-code 123456 --valid-before -2h", "--valid-before"},
		{"requests reject req-1 --totp-code 123456", "--comment is required"},
		{"requests create --target web-1", "missing command after --"},
		{"requests create --target web-1 --", "missing command after --"},
		{"requests create -- kill 1", "--target is required"},
		{"requests cancel", "missing request ID"},
		{"requests run", "missing request ID"},
		{"audit list --since yesterday", "--since"},
		{"audit verify now", `unexpected argument "now"`},
	} {
		// erin has both roles, so only the usage can be wrong.
		r := h.run("erin", strings.Fields(tc.args)...)
		if r.code != exitcode.Usage {
			t.Errorf("mpa %s: exit %d; want %d\nstderr: %s", tc.args, r.code, exitcode.Usage, r.stderr)
		}
		if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage: mpa") {
			t.Errorf("mpa %s: stderr %q; want %q and a usage line", tc.args, r.stderr, tc.want)
		}
	}
}

// Commands refuse users without the role they need, before touching the
// service.
func TestRoleRefusals(t *testing.T) {
	h := newHarness(t)
	h.register("bob", "carol")
	for _, tc := range []struct {
		user, args, want string
	}{
		{"alice", "initiate-registration", "needs the approver role; alice has role admin"},
		{"mallory", "initiate-registration", "needs the approver role; mallory has no role"},
		{"alice", "complete-registration --totp-code 123456", "needs the approver role"},
		{"alice", "requests approve req-1 --totp-code 123456", "keyturn: mpa requests approve: mpa requests approve needs the approver role"},
		{"alice", "requests reject req-1 --totp-code 123456 --comment no", "needs the approver role"},
		{"bob", "requests create --target web-1 -- kill 1", "needs the admin role"},
		{"bob", "requests run req-1", "needs the admin role"},
		{"mallory", "requests list", "needs the admin, approver or auditor role"},
		{"mallory", "approvers list", "needs the admin, approver or auditor role"},
		{"mallory", "audit export", "needs the auditor role"},
		{"alice", "audit export", "needs the auditor role; alice has role admin"},
		{"bob", "audit export", "needs the auditor role; bob has role approver"},
		// The auditor reads and changes nothing.
		{"ivy", "requests create --target web-1 -- kill 1", "needs the admin role"},
		{"ivy", "requests run req-1", "needs the admin role"},
		{"ivy", "requests cancel req-1", "needs the admin or approver role"},
		{"ivy", "requests approve req-1 --totp-code 123456", "needs the approver role"},
		{"ivy", "initiate-registration", "needs the approver role"},
		{"ivy", "settings global modify --enable=true", "needs the admin or approver role"},
		{"mallory", "settings global modify --enable=true", "needs the admin or approver role"},
		{"alice", "requests create --target forbidden -- kill 1", `alice may not reach target "forbidden"`},
	} {
		r := h.run(tc.user, strings.Fields(tc.args)...)
		if r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("mpa %s as %s: exit %d, stderr %q; want %d and %q", tc.args, tc.user, r.code, r.stderr, exitcode.NotPermitted, tc.want)
		}
	}
	a, err := h.svc.Approver(h.ctx, "alice")
	if err == nil {
		t.Errorf("alice became an approver record: %+v", a)
	}
}

func TestRegistration(t *testing.T) {
	h := newHarness(t)
	r := h.initiate("bob")
	for _, w := range []string{
		"Initiated registration for bob", "mpa complete-registration --totp-code <code>",
		"account:    bob", "issuer:     keyturn", "algorithm:  SHA1", "digits:     6", "period:     30",
		"url:        otpauth://totp/keyturn:bob?",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("initiate-registration output lacks %q:\n%s", w, r.stdout)
		}
	}
	if !strings.ContainsAny(r.stdout, "▀▄") {
		t.Errorf("initiate-registration drew no half-block QR code:\n%s", r.stdout)
	}

	// A wrong code does not register, in one sentence, with its own status.
	bad := h.run("bob", "complete-registration", "--totp-code", "000000")
	if bad.code != exitcode.BadCode || bad.stderr != "keyturn: wrong TOTP code for bob; check the code in your authenticator app\n" {
		t.Fatalf("bad code: exit %d stderr %q", bad.code, bad.stderr)
	}
	ok := h.must("bob", "complete-registration", "--totp-code", h.code("bob"))
	if !strings.HasPrefix(ok.stdout, "Approver registered: bob\n") {
		t.Errorf("complete-registration: %q", ok.stdout)
	}
	// Registering again needs --force.
	again := h.run("bob", "initiate-registration")
	if again.code != exitcode.NotPermitted || !strings.Contains(again.stderr, "already a registered approver") {
		t.Errorf("second initiate: exit %d stderr %q", again.code, again.stderr)
	}
	h.initiate("bob", "--force")

	list := h.must("alice", "approvers", "list")
	if !regexp.MustCompile(`(?m)^bob\s+registered\s+2025-03-01T12:00:00Z\s+-\s+-$`).MatchString(list.stdout) ||
		!strings.Contains(list.stdout, "Total: 1") {
		t.Errorf("approvers list:\n%s", list.stdout)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(h.must("alice", "approvers", "list", "--json").stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"name": "bob", "status": "registered",
		"created": "2025-03-01T12:00:00Z", "registered_at": "2025-03-01T12:00:00Z"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("approvers list --json (-want +got):\n%s", d)
	}
	view := h.must("bob", "approvers", "view", "bob", "--json").stdout
	if strings.Contains(strings.ToLower(view), "secret") || !strings.Contains(view, `"status": "registered"`) {
		t.Errorf("approvers view --json: %s", view)
	}
	if r := h.run("bob", "approvers", "view", "nobody"); r.code != exitcode.Failure || !strings.Contains(r.stderr, "not found") {
		t.Errorf("view nobody: exit %d stderr %q", r.code, r.stderr)
	}
}

// While MPA is enabled a newcomer's registration is a held request that
// existing approvers approve.
func TestHeldRegistration(t *testing.T) {
	h := newHarness(t)
	h.enable()
	h.initiate("dave")
	r := h.must("dave", "complete-registration", "--totp-code", h.code("dave"))
	m := regexp.MustCompile(`held as request (req-[0-9a-f]+)`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "needs 2 approvals from existing approvers") {
		t.Fatalf("held registration output:\n%s", r.stdout)
	}
	id := m[1]
	view := h.must("bob", "requests", "view", id).stdout
	if !strings.Contains(view, "register_approver dave") {
		t.Errorf("view of registration request:\n%s", view)
	}
	// dave cannot approve his own registration: he is not registered yet.
	h.step()
	if r := h.run("dave", "requests", "approve", id, "--totp-code", h.code("dave")); r.code != exitcode.NotPermitted {
		t.Errorf("dave approving his own registration: exit %d", r.code)
	}
	h.must("bob", "requests", "approve", id, "--totp-code", h.code("bob"))
	out := h.must("carol", "requests", "approve", id, "--totp-code", h.code("carol")).stdout
	if !strings.Contains(out, "register_approver dave is completed") {
		t.Errorf("last approval: %s", out)
	}
	a, err := h.svc.Approver(h.ctx, "dave")
	if err != nil || a.Status != mpa.Registered {
		t.Fatalf("dave after approval: %+v, %v", a, err)
	}
}

// The whole flow through the CLI: create, approvals with codes from
// oathtool, every refusal the two-person rule makes, and release.
func TestRequestFlow(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id := h.create()

	list := h.must("bob", "requests", "list", "--status", "pending")
	if !regexp.MustCompile(`(?m)^` + id + `\s+pending\s+alice\s+web-1\s+0/2\s+2025-03-02T12:00:30Z \(in 24h0m0s\)\s+kill -9 4242$`).MatchString(list.stdout) {
		t.Errorf("requests list:\n%s", list.stdout)
	}
	if out := h.must("bob", "requests", "list", "--status", "approved,rejected").stdout; strings.Contains(out, id) {
		t.Errorf("pending request listed under approved,rejected:\n%s", out)
	}

	// alice, the requester, cannot run it yet: it is pending.
	if r := h.run("alice", "requests", "run", id); r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, "not approved: it is pending (0 of 2 approvals)") {
		t.Errorf("run while pending: exit %d stderr %q", r.code, r.stderr)
	}

	out := h.must("bob", "requests", "approve", id, "--totp-code", h.code("bob"), "--comment", "ok")
	if out.stdout != "Approved "+id+": 1 of 2 approvals\n" {
		t.Errorf("first approval: %q", out.stdout)
	}
	h.step()
	for _, tc := range []struct {
		user, want string
	}{
		{"bob", "already voted"},
		{"alice", "needs the approver role"},
		{"erin", "not a registered approver"},
	} {
		code := "123456"
		if h.secrets[tc.user] != "" {
			code = h.code(tc.user)
		}
		r := h.run(tc.user, "requests", "approve", id, "--totp-code", code)
		if r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("approve by %s: exit %d stderr %q; want 77 and %q", tc.user, r.code, r.stderr, tc.want)
		}
	}
	out = h.must("carol", "requests", "approve", id, "--totp-code", h.code("carol"))
	if !strings.Contains(out.stdout, "2 of 2 approvals; the request is approved and alice can run it until 2025-03-01T13:01:00Z") {
		t.Errorf("quorum approval: %q", out.stdout)
	}

	// Only the requester releases it, through the gate's Release.
	for _, u := range []string{"erin"} {
		if r := h.run(u, "requests", "run", id); r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, "only the requester") {
			t.Errorf("run by %s: exit %d stderr %q", u, r.code, r.stderr)
		}
	}
	if got := h.releases(); len(got) != 0 {
		t.Fatalf("Release called for a non-requester: %v", got)
	}
	if r := h.run("alice", "requests", "run", id); r.code != 42 {
		t.Errorf("run by alice: exit %d (stderr %q); want Release's 42", r.code, r.stderr)
	}
	if d := cmp.Diff([]string{"alice:" + id}, h.releases()); d != "" {
		t.Errorf("Release calls (-want +got):\n%s", d)
	}

	view := h.must("alice", "requests", "view", id).stdout
	for _, w := range []string{"status:       approved", "approvals:    2 of 2", `approved by:  bob at 2025-03-01T12:00:30Z: "ok"`,
		"approved by:  carol at 2025-03-01T12:01:00Z", "reason:       stuck worker", `why:          kill_process: matched "kill"`} {
		if !strings.Contains(view, w) {
			t.Errorf("requests view lacks %q:\n%s", w, view)
		}
	}
	var got mpa.Request
	if err := json.Unmarshal([]byte(h.must("alice", "requests", "view", id, "--json").stdout), &got); err != nil {
		t.Fatal(err)
	}
	want, err := h.svc.Get(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// --json indents the stored why; compare it compacted.
	var why bytes.Buffer
	if err := json.Compact(&why, got.Why); err != nil {
		t.Fatal(err)
	}
	got.Why = why.Bytes()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("requests view --json (-want +got):\n%s", d)
	}
}

// A code already used is refused even on another request, and audited.
func TestReplayedCode(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id1, id2 := h.create(), h.create()
	code := h.code("bob")
	h.must("bob", "requests", "approve", id1, "--totp-code", code)
	r := h.run("bob", "requests", "approve", id2, "--totp-code", code)
	if r.code != exitcode.BadCode || r.stderr != "keyturn: that TOTP code for bob was already used; wait for the next one (codes change every 30 s)\n" {
		t.Fatalf("replayed code: exit %d stderr %q", r.code, r.stderr)
	}
	out := h.must("bob", "audit", "list", "--user", "bob", "--request", id2).stdout
	if !strings.Contains(out, "totp.replayed") {
		t.Errorf("replay not audited:\n%s", out)
	}
}

func TestRejectAndCancel(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id := h.create()
	if r := h.run("bob", "requests", "cancel", id); r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, "only the requester") {
		t.Errorf("cancel by bob: exit %d stderr %q", r.code, r.stderr)
	}
	for _, comment := range [][]string{nil, {"--comment", "  "}} {
		args := append([]string{"requests", "reject", id, "--totp-code", h.code("bob")}, comment...)
		if r := h.run("bob", args...); r.code != exitcode.Usage || !strings.Contains(r.stderr, "--comment is required") {
			t.Errorf("reject with comment %q: exit %d stderr %q", comment, r.code, r.stderr)
		}
	}
	out := h.must("bob", "requests", "reject", id, "--totp-code", h.code("bob"), "--comment", "use systemctl restart").stdout
	if out != "Rejected "+id+"\n" {
		t.Errorf("reject: %q", out)
	}
	view := h.must("alice", "requests", "view", id).stdout
	if !strings.Contains(view, "status:       rejected") || !strings.Contains(view, `rejected by:  bob at 2025-03-01T12:00:30Z: "use systemctl restart"`) {
		t.Errorf("view after reject:\n%s", view)
	}
	if r := h.run("alice", "requests", "cancel", id); r.code != exitcode.Decided || !strings.Contains(r.stderr, "it is rejected") {
		t.Errorf("cancel rejected: exit %d stderr %q", r.code, r.stderr)
	}
	id2 := h.create()
	if out := h.must("alice", "requests", "cancel", id2).stdout; out != "Cancelled request "+id2+"\n" {
		t.Errorf("cancel: %q", out)
	}
}

// --valid-before takes a duration from now or an RFC 3339 time.
func TestValidBefore(t *testing.T) {
	h := newHarness(t)
	h.enable()
	for _, tc := range []struct {
		arg  string
		want func() time.Time
	}{
		{"2h", func() time.Time { return h.clock.Now().Add(2 * time.Hour) }},
		{"2025-03-01T12:45:00Z", func() time.Time { return time.Date(2025, 3, 1, 12, 45, 0, 0, time.UTC) }},
	} {
		id := h.create()
		h.step()
		want := tc.want()
		var r mpa.Request
		out := h.must("bob", "requests", "approve", id, "--totp-code", h.code("bob"), "--valid-before", tc.arg, "--json").stdout
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Approvals) != 1 || !r.Approvals[0].ValidBefore.Equal(want) {
			t.Errorf("--valid-before %s: approvals %+v; want valid before %s", tc.arg, r.Approvals, want)
		}
	}
}

// requests create decides the line with the policy in force.
func TestCreateVerdicts(t *testing.T) {
	h := newHarness(t)
	// MPA disabled: a held line needs no approval yet.
	r := h.must("alice", "requests", "create", "--target", "web-1", "--", "kill", "-9", "4242")
	if !strings.Contains(r.stdout, "held for approval: kill_process") ||
		!strings.Contains(r.stdout, "Multi-party approval is disabled") {
		t.Errorf("create while disabled:\n%s", r.stdout)
	}
	h.enable()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--target", "web-1", "--", "uptime"}, 0, "allowed: needs no approval; run it with ssh alice+web-1@gate uptime", ""},
		{[]string{"--target", "web-1", "--", "rm -rf /"}, 77, "", "keyturn: mpa requests create: denied: wipe_root"},
		{[]string{"--target", "db-1", "--", "zfs destroy tank@snap"}, 64, "", "a reason is required for delete_snapshot: give --reason"},
		{[]string{"--target", "db-1", "--reason", "disk full", "--", "zfs", "destroy", "tank@snap"}, 0, "Created request req-", ""},
	} {
		r := h.run("alice", append([]string{"requests", "create"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("create %q: exit %d\nstdout: %s\nstderr: %s\nwant %d, %q, %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	rs, err := h.svc.List(h.ctx, mpa.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("requests stored: %d; want only the zfs one", len(rs))
	}
	want := mpa.Request{
		Kind: mpa.KindCommand, Actions: []mpa.ActionRef{{Name: "delete_snapshot", Service: "snapshot"}},
		Target: "db-1", Command: "zfs destroy tank@snap", Requester: "alice", Reason: "disk full",
		Status: mpa.StatusPending, RequiredApprovals: 2, ApprovalTTL: time.Hour,
	}
	if d := cmp.Diff(want, rs[0], cmpopts.IgnoreFields(mpa.Request{}, "ID", "Why", "Created", "Updated", "ExpiresAt")); d != "" {
		t.Errorf("created request (-want +got):\n%s", d)
	}
	var why []map[string]any
	if err := json.Unmarshal(rs[0].Why, &why); err != nil || len(why) == 0 || why[0]["action"] != "delete_snapshot" {
		t.Errorf("why = %s (%v); want the decision's matches", rs[0].Why, err)
	}
}

func TestSettings(t *testing.T) {
	h := newHarness(t)
	h.register("bob")
	r := h.run("alice", "settings", "global", "modify", "--enable=true")
	if r.code != exitcode.NotPermitted || !strings.Contains(r.stderr, "at least two registered approvers (1 registered)") {
		t.Errorf("enable with one approver: exit %d stderr %q", r.code, r.stderr)
	}
	if out := h.must("alice", "settings", "global", "view").stdout; !strings.HasPrefix(out, "Multi-party approval is disabled\nWarning: action kill_process needs 2 approvals but only 1 approvers are registered") {
		t.Errorf("view: %q", out)
	}
	h.register("carol")
	if out := h.must("alice", "settings", "global", "modify", "--enable").stdout; out != "Multi-party approval is enabled\n" {
		t.Errorf("enable: %q", out)
	}
	var s mpa.Settings
	if err := json.Unmarshal([]byte(h.must("bob", "settings", "global", "view", "--json").stdout), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Enabled || s.UpdatedBy != "alice" {
		t.Errorf("settings --json: %+v", s)
	}
	out := h.must("alice", "settings", "global", "modify", "--enable=false").stdout
	m := regexp.MustCompile(`request (req-[0-9a-f]+) is pending \(2 approvals needed\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("disable: %q", out)
	}
	if out := h.must("alice", "settings", "global", "view").stdout; !strings.Contains(out, "is enabled") {
		t.Errorf("MPA off before approval: %q", out)
	}
	h.must("bob", "requests", "approve", m[1], "--totp-code", h.code("bob"))
	h.must("carol", "requests", "approve", m[1], "--totp-code", h.code("carol"))
	if out := h.must("alice", "settings", "global", "view").stdout; !strings.Contains(out, "is disabled") {
		t.Errorf("MPA still on after approval: %q", out)
	}

	pa := h.must("bob", "settings", "pa-metadata", "list").stdout
	for _, re := range []string{
		`(?m)^SERVICE\s+ACTION\s+QUORUM\s+REASON\s+TARGETS\s+DESCRIPTION$`,
		`(?m)^process\s+kill_process\s+2\s+optional\s+\*\s+Terminate processes$`,
		`(?m)^snapshot\s+delete_snapshot\s+2\s+required\s+db-\*\s+Destroy snapshots$`,
		`(?m)^mpa\s+register_approver\s+2\s+`, `(?m)^mpa\s+disable_mpa\s+2\s+`, `(?m)^mpa\s+update_policy\s+2\s+`,
	} {
		if !regexp.MustCompile(re).MatchString(pa) {
			t.Errorf("pa-metadata list does not match %s:\n%s", re, pa)
		}
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(h.must("bob", "settings", "pa-metadata", "list", "--json").stdout), &got); err != nil {
		t.Fatal(err)
	}
	// Sorted by service: keyturn's own (mpa) first.
	if len(got) != 5 || got[0]["service"] != "mpa" {
		t.Fatalf("pa-metadata --json: %v", got)
	}
	if d := cmp.Diff(map[string]any{"service": "process", "action": "kill_process", "quorum": 2.0,
		"pending_ttl": "24h0m0s", "approval_ttl": "1h0m0s", "reason_required": false,
		"description": "Terminate processes"}, got[3]); d != "" {
		t.Errorf("pa-metadata --json kill_process (-want +got):\n%s", d)
	}

	life := h.must("bob", "settings", "request-lifecycle", "list").stdout
	for _, re := range []string{`(?m)^pending\s+168h0m0s\s+expires if not approved within$`, `(?m)^completed\s+720h0m0s\s+removed after$`} {
		if !regexp.MustCompile(re).MatchString(life) {
			t.Errorf("request-lifecycle list does not match %s:\n%s", re, life)
		}
	}
	var rows []struct {
		Status  string `json:"status"`
		Seconds int64  `json:"seconds"`
	}
	if err := json.Unmarshal([]byte(h.must("bob", "settings", "request-lifecycle", "list", "--json").stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0].Status != "pending" || rows[0].Seconds != 7*24*3600 {
		t.Errorf("request-lifecycle --json: %+v", rows)
	}
}

func TestAuditCommands(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id := h.create()
	h.must("bob", "requests", "approve", id, "--totp-code", h.code("bob"))

	out := h.must("alice", "audit", "list", "--request", id).stdout
	for _, re := range []string{`(?m)^\d+\s+2025-03-01T12:00:30Z\s+request.created\s+alice\s+` + id + `\s+web-1\s+`, `request.approval\s+bob`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("audit list --request does not match %s:\n%s", re, out)
		}
	}
	var events []audit.Event
	if err := json.Unmarshal([]byte(h.must("alice", "audit", "list", "--user", "bob", "--json").stdout), &events); err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Actor != "bob" {
			t.Errorf("audit list --user bob gave %+v", e)
		}
	}
	h.clock.Advance(2 * time.Hour)
	if out := h.must("alice", "audit", "list", "--since", "1h", "--json").stdout; out != "[]\n" {
		t.Errorf("audit list --since 1h: %s", out)
	}

	export := h.must("ivy", "audit", "export").stdout
	lines := strings.Split(strings.TrimSpace(export), "\n")
	if len(lines) < 5 || !strings.Contains(lines[0], `"seq":1,`) || !strings.Contains(lines[0], `"hash":"`) {
		t.Errorf("export:\n%s", export)
	}
	if err := audit.VerifyJSONL(strings.NewReader(export)); err != nil {
		t.Errorf("export does not verify: %v", err)
	}

	ok := h.must("alice", "audit", "verify").stdout
	if !regexp.MustCompile(`^audit chain ok: \d+ events, head seq \d+ hash [0-9a-f]{64}\n$`).MatchString(ok) {
		t.Errorf("verify: %q", ok)
	}

	// Edit event 3 behind the service's back, directly in Badger.
	err := h.store.DB().Update(func(txn *badger.Txn) error {
		item, err := txn.Get(badgerstore.AuditKey(3))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		nv := bytes.Replace(v, []byte(`"kind":"`), []byte(`"kind":"x`), 1)
		if bytes.Equal(v, nv) {
			t.Fatalf("event 3 has no kind: %s", v)
		}
		return txn.Set(badgerstore.AuditKey(3), nv)
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := h.run("alice", "audit", "verify")
	if bad.code != exitcode.Failure || !strings.Contains(bad.stdout, "first bad event is seq 3 (position 2): edited") ||
		!strings.Contains(bad.stderr, "keyturn: mpa audit verify: audit: event 3") {
		t.Errorf("verify tampered: exit %d\nstdout: %s\nstderr: %s", bad.code, bad.stdout, bad.stderr)
	}
}

// audit list prints what requesters wrote (their command line, their
// reason) inside the events' data: a bidi override or a C1 control there
// must not reach the auditor's terminal as itself.
func TestAuditListEscapesEventData(t *testing.T) {
	h := newHarness(t)
	h.enable()
	r := h.must("alice", "requests", "create", "--target", "web-1", "--reason", "stuck\u202eredrow\u009b2J", "--", "kill -9 4242 #\u202e")
	if createdID.FindStringSubmatch(r.stdout) == nil {
		t.Fatalf("no request id in:\n%s", r.stdout)
	}
	out := h.must("alice", "audit", "list").stdout
	if !strings.Contains(out, "request.created") {
		t.Fatalf("audit list shows no request.created:\n%s", out)
	}
	for _, bad := range []string{"\u202e", "\u009b"} {
		if strings.Contains(out, bad) {
			t.Errorf("audit list printed %U raw:\n%q", []rune(bad)[0], out)
		}
	}
}
