package mpacli_test

import (
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

const groupsPolicy = `version: 1
actions:
  - name: delete_snapshot
    service: snapshot
    match:
      - command: zfs
        args: [destroy]
    approvers:
      - {group: storage, count: 1}
      - {group: security, count: 1}
`

// groupsHarness is a harness whose policy has an approvers rule and
// whose service knows these groups.
func groupsHarness(t *testing.T, groups map[string][]string) *harness {
	h := newHarness(t)
	pol, err := policy.Parse("policies.yaml", []byte(groupsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h.pol = pol
	h.svc = mpa.New(h.store, mpa.Options{Now: h.clock.Now, Logger: slog.New(slog.DiscardHandler), Node: "gate-1",
		InGroup: func(u, g string) bool { return slices.Contains(groups[u], g) }})
	return h
}

// A request made with 'mpa requests create' carries the policy's
// approvers rule: two approvers from one group do not approve it, and
// view and list say where it stands.
func TestCreateCarriesApproversRule(t *testing.T) {
	h := groupsHarness(t, map[string][]string{"bob": {"storage"}, "carol": {"storage"}, "dave": {"security"}})
	h.register("bob", "carol", "dave")
	h.must("alice", "settings", "global", "modify", "--enable=true")
	r := h.must("alice", "requests", "create", "--target", "nas-1", "--", "zfs destroy tank@old")
	m := createdID.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no request id in:\n%s", r.stdout)
	}
	id := m[1]
	h.must("bob", "requests", "approve", id, "--totp-code", h.code("bob"))
	// carol's queue marks it: her group's line is met.
	l := h.must("carol", "requests", "list")
	if !regexp.MustCompile(id + `\s+pending\*`).MatchString(l.stdout) {
		t.Fatalf("carol's list does not mark %s:\n%s", id, l.stdout)
	}
	if l := h.must("dave", "requests", "list"); strings.Contains(l.stdout, "pending*") {
		t.Fatalf("dave's list marks a request he can help:\n%s", l.stdout)
	}
	h.must("carol", "requests", "approve", id, "--totp-code", h.code("carol"))
	v := h.must("dave", "requests", "view", id)
	for _, want := range []string{"status:       pending", "security 0/1: needs more", "can still approve:  dave"} {
		if !strings.Contains(v.stdout, want) {
			t.Fatalf("view lacks %q:\n%s", want, v.stdout)
		}
	}
	h.must("dave", "requests", "approve", id, "--totp-code", h.code("dave"))
	got, err := h.svc.Get(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != mpa.StatusApproved {
		t.Fatalf("status %s after storage and security approved; want approved", got.Status)
	}
}

// A request whose rule no registered approver but the requester could
// meet is refused before it is made.
func TestCreateRefusesUnmeetableRule(t *testing.T) {
	h := groupsHarness(t, map[string][]string{"bob": {"storage"}, "carol": {"storage"}, "erin": {"security"}})
	h.register("bob", "carol", "erin")
	h.must("erin", "settings", "global", "modify", "--enable=true")
	r := h.run("erin", "requests", "create", "--target", "nas-1", "--", "zfs destroy tank@old")
	if r.code != exitcode.Pending || !strings.Contains(r.stderr, "security 0/1") {
		t.Fatalf("exit %d, stderr %q; want %d naming the security line", r.code, r.stderr, exitcode.Pending)
	}
	if rs, _ := h.svc.List(h.ctx, mpa.ListFilter{}); len(rs) != 0 {
		t.Fatalf("%d requests made; want none", len(rs))
	}
}
