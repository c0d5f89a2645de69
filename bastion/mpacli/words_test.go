package mpacli_test

import (
	"github.com/keyturn/keyturn/policy"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpacli"
)

// Approvers read one sentence per error, with no repeated prefixes, the
// tries left before a lockout, and a status per kind of outcome.
func TestApproverWords(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id := h.create()

	r := h.run("bob", "requests", "approve", id, "--totp-code", "000000")
	if r.code != exitcode.BadCode || r.stderr != "keyturn: wrong TOTP code for bob; 4 tries left before a 5-minute lock\n" {
		t.Errorf("wrong code: exit %d stderr %q", r.code, r.stderr)
	}
	r = h.run("bob", "requests", "approve", id, "--totp-code", "000000")
	if !strings.Contains(r.stderr, "3 tries left") {
		t.Errorf("second wrong code: %q; want 3 tries left", r.stderr)
	}
	for range 3 {
		h.run("bob", "requests", "approve", id, "--totp-code", "000000")
	}
	r = h.run("bob", "requests", "approve", id, "--totp-code", h.code("bob"))
	if r.code != exitcode.NotPermitted || !strings.HasPrefix(r.stderr, "keyturn: bob is locked out after too many wrong TOTP codes, until 12:") {
		t.Errorf("locked out: exit %d stderr %q", r.code, r.stderr)
	}
	list := h.must("carol", "approvers", "list").stdout
	if !strings.Contains(list, "LOCKED UNTIL") || !strings.Contains(list, "2025-03-01T12:") {
		t.Errorf("approvers list does not show bob's lock:\n%s", list)
	}
	for _, s := range []string{r.stderr} {
		if strings.Count(s, "keyturn:") != 1 || strings.Contains(s, "mpa:") || strings.Contains(s, "mpa requests approve:") {
			t.Errorf("repeated prefixes in %q", s)
		}
	}

	// A comment of two words through ssh arrives as two words.
	r = h.run("carol", "requests", "approve", id, "--totp-code", h.code("carol"), "--comment", "not", "now")
	if r.code != exitcode.Usage || !strings.Contains(r.stderr, `quote it twice: --comment "'not now'"`) {
		t.Errorf("unquoted comment: exit %d stderr %q", r.code, r.stderr)
	}

	// carol rejects; a later vote finds it already decided.
	h.must("carol", "requests", "reject", id, "--totp-code", h.code("carol"), "--comment", "no")
	h.step()
	r = h.run("carol", "requests", "approve", id, "--totp-code", h.code("carol"))
	if r.code != exitcode.Decided || r.stderr != "keyturn: request "+id+" was already decided: it is rejected\n" {
		t.Errorf("vote on a decided request: exit %d stderr %q", r.code, r.stderr)
	}
}

// Right after registering, an approver is told when the next code works.
func TestRegistrationSaysNextCode(t *testing.T) {
	h := newHarness(t)
	h.initiate("bob")
	r := h.must("bob", "complete-registration", "--totp-code", h.code("bob"))
	if !strings.Contains(r.stdout, "your next code is accepted from 12:00:30 UTC (in 30s)") {
		t.Errorf("complete-registration:\n%s", r.stdout)
	}
}

// settings global view warns about a broken policies.yaml on disk and about
// actions whose quorum the registered approvers cannot reach.
func TestGlobalViewWarns(t *testing.T) {
	h := newHarness(t)
	out := h.must("alice", "settings", "global", "view").stdout
	if !strings.Contains(out, "Warning: action kill_process needs 2 approvals but only 0 approvers are registered") {
		t.Errorf("no quorum warning with no approvers:\n%s", out)
	}
	h.register("bob", "carol")
	out = h.must("alice", "settings", "global", "view").stdout
	if strings.Contains(out, "kill_process needs") {
		t.Errorf("quorum warning with two approvers:\n%s", out)
	}
	var buf strings.Builder
	env := mpacli.Env{User: "alice", Roles: roles["alice"], Stdout: &buf, Service: h.svc, Policy: h.pol, Now: h.clock.Now,
		PolicyProblem: func() string { return `policies.yaml:5:5: unknown field "quorom"` }}
	if code := mpacli.Run(h.ctx, env, []string{"settings", "global", "view"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(buf.String(), `Warning: policies.yaml on disk does not load; the last good policy stays in force: policies.yaml:5:5: unknown field "quorom"`) {
		t.Errorf("no policy problem:\n%s", buf.String())
	}
}

// requests create refuses at once a request no one could approve.
func TestCreateRefusesUnreachableQuorum(t *testing.T) {
	h := newHarness(t)
	h.enable() // bob and carol: two approvers
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nactions:\n  - name: reboot\n    service: host\n    required_approvals: 3\n    match: [{command: reboot}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	env := mpacli.Env{User: "alice", Roles: roles["alice"], Stdout: &out, Stderr: &errb, Service: h.svc, Policy: pol, Now: h.clock.Now}
	code := mpacli.Run(h.ctx, env, []string{"requests", "create", "--target", "web-1", "--", "reboot"})
	if code != exitcode.Pending || errb.String() != "keyturn: reboot needs 3 approvals but only 2 approvers other than alice are registered, so it could never be approved; no request was made\n" {
		t.Errorf("create: exit %d stderr %q", code, errb.String())
	}
	if list := h.must("bob", "requests", "list", "--json").stdout; strings.Contains(list, "req-") {
		t.Errorf("a request was filed:\n%s", list)
	}
	h.create() // kill_process needs 2: alice's request is filed
}

// An error the CLI had no sentence of its own for reads as every client
// says it (mpawords), in one sentence with its status, not as the
// service's log text.
func TestRegistrationErrorWords(t *testing.T) {
	h := newHarness(t)
	r := h.run("dave", "complete-registration", "--totp-code", "123456")
	if r.code != exitcode.NotPermitted || r.stderr != "keyturn: no registration started (start one with: mpa initiate-registration)\n" {
		t.Errorf("complete without initiate: exit %d stderr %q", r.code, r.stderr)
	}
}
