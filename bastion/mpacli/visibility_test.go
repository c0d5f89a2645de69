package mpacli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// visibilityHarness: alice and frank (admins) each hold a request with a
// secret in its reason, and alice has a gate decision on record whose
// command line holds a password.
func visibilityHarness(t *testing.T) (h *harness, aliceReq, frankReq string) {
	t.Helper()
	h = newHarness(t)
	h.enable()
	aliceReq = h.create() // reason "stuck worker"
	r := h.must("frank", "requests", "create", "--target", "web-1", "--reason", "frank-secret-reason", "--", "kill -9 77")
	m := createdID.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no request id in:\n%s", r.stdout)
	}
	frankReq = m[1]
	if _, err := h.svc.Record(h.ctx, audit.Event{Kind: "decision", Actor: "alice", Target: "db-1",
		Data: json.RawMessage(`{"command":"mysql -palice-password","verdict":"allow"}`)}); err != nil {
		t.Fatal(err)
	}
	return h, aliceReq, frankReq
}

func listIDs(t *testing.T, h *harness, user string, extra ...string) []string {
	t.Helper()
	var rs []mpa.Request
	out := h.must(user, append([]string{"requests", "list", "--json"}, extra...)...).stdout
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("requests list --json as %s: %v\n%s", user, err, out)
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// TestAdminSeesOnlyOwnRequests is issue 16 item 9: an admin read every
// other admin's requests and audit, command lines and reasons included.
func TestAdminSeesOnlyOwnRequests(t *testing.T) {
	h, aliceReq, frankReq := visibilityHarness(t)

	if ids := listIDs(t, h, "frank"); len(ids) != 1 || ids[0] != frankReq {
		t.Errorf("frank lists %v; want only his own %s", ids, frankReq)
	}
	if ids := listIDs(t, h, "frank", "--status", "pending"); len(ids) != 1 || ids[0] != frankReq {
		t.Errorf("frank lists pending %v; want only his own %s", ids, frankReq)
	}
	if out := h.must("frank", "requests", "list").stdout; strings.Contains(out, aliceReq) || strings.Contains(out, "4242") {
		t.Errorf("frank's table shows alice's request:\n%s", out)
	}
	// Viewing alice's request is the same as viewing one that does not
	// exist: no way to tell an id is in use.
	hidden := h.run("frank", "requests", "view", aliceReq)
	missing := h.run("frank", "requests", "view", "req-0000000000")
	if hidden.code != missing.code || hidden.code == 0 ||
		strings.ReplaceAll(hidden.stderr, aliceReq, "ID") != strings.ReplaceAll(missing.stderr, "req-0000000000", "ID") ||
		strings.Contains(hidden.stdout+hidden.stderr, "stuck worker") {
		t.Errorf("frank views alice's request: exit %d %q %q; a missing one: exit %d %q", hidden.code, hidden.stdout, hidden.stderr, missing.code, missing.stderr)
	}
	for _, verb := range []string{"run", "cancel", "output"} {
		hidden, missing := h.run("frank", "requests", verb, aliceReq), h.run("frank", "requests", verb, "req-0000000000")
		if hidden.code == 0 || hidden.code != missing.code || strings.Contains(hidden.stderr, "alice") ||
			strings.ReplaceAll(hidden.stderr, aliceReq, "ID") != strings.ReplaceAll(missing.stderr, "req-0000000000", "ID") {
			t.Errorf("frank %ss alice's request: exit %d, %q; a missing one: exit %d, %q", verb, hidden.code, hidden.stderr, missing.code, missing.stderr)
		}
	}
	// Alice sees hers, not frank's.
	if ids := listIDs(t, h, "alice"); len(ids) != 1 || ids[0] != aliceReq {
		t.Errorf("alice lists %v; want only %s", ids, aliceReq)
	}
	if len(h.releases()) != 0 {
		t.Errorf("releases: %v", h.releases())
	}
}

func auditList(t *testing.T, h *harness, user string, extra ...string) []audit.Event {
	t.Helper()
	var es []audit.Event
	out := h.must(user, append([]string{"audit", "list", "--json"}, extra...)...).stdout
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("audit list --json as %s: %v\n%s", user, err, out)
	}
	return es
}

func TestAdminSeesOnlyOwnAudit(t *testing.T) {
	h, aliceReq, frankReq := visibilityHarness(t)
	h.must("bob", "requests", "approve", aliceReq, "--totp-code", h.code("bob"))

	// Every way of asking: all, by user, by request, by time.
	for _, args := range [][]string{nil, {"--user", "alice"}, {"--request", aliceReq}, {"--since", "24h"}, {"--user", "bob"}} {
		for _, e := range auditList(t, h, "frank", args...) {
			if e.Actor != "frank" && e.Request != frankReq {
				t.Errorf("frank (audit list %v) sees %s by %s about %q", args, e.Kind, e.Actor, e.Request)
			}
			if strings.Contains(string(e.Data), "alice-password") || strings.Contains(string(e.Data), "stuck worker") {
				t.Errorf("frank sees alice's secrets: %s", e.Data)
			}
		}
	}
	if out := h.must("frank", "audit", "list").stdout; strings.Contains(out, "alice-password") || strings.Contains(out, aliceReq) {
		t.Errorf("frank's audit table:\n%s", out)
	}
	// Alice sees her decision and bob's approval of her request.
	var sawDecision, sawApproval bool
	for _, e := range auditList(t, h, "alice") {
		sawDecision = sawDecision || e.Kind == "decision"
		sawApproval = sawApproval || e.Kind == "request.approval" && e.Request == aliceReq
		if e.Request == frankReq || strings.Contains(string(e.Data), "frank-secret") {
			t.Errorf("alice sees frank's %s", e.Kind)
		}
	}
	if !sawDecision || !sawApproval {
		t.Errorf("alice misses her own events: decision %v, approval %v", sawDecision, sawApproval)
	}
	// Verify stays open to all: it shows no content.
	h.must("frank", "audit", "verify")
}

// TestApproverAndAuditorVisibility: approvers see the requests they judge
// (and their events) but not admins' other gate events; the auditor sees
// everything and may change nothing.
func TestApproverAndAuditorVisibility(t *testing.T) {
	h, aliceReq, frankReq := visibilityHarness(t)

	if ids := listIDs(t, h, "bob"); len(ids) != 2 {
		t.Errorf("bob (approver) lists %v; want both requests", ids)
	}
	if r := h.must("bob", "requests", "view", aliceReq); !strings.Contains(r.stdout, "stuck worker") {
		t.Errorf("bob cannot read the reason of what he approves:\n%s", r.stdout)
	}
	var bobSawRequest bool
	for _, e := range auditList(t, h, "bob") {
		bobSawRequest = bobSawRequest || e.Request == frankReq
		if e.Kind == "decision" || strings.Contains(string(e.Data), "alice-password") {
			t.Errorf("bob sees alice's gate event %s: %s", e.Kind, e.Data)
		}
	}
	if !bobSawRequest {
		t.Error("bob does not see the events of a request he may approve")
	}

	if ids := listIDs(t, h, "ivy"); len(ids) != 2 {
		t.Errorf("ivy (auditor) lists %v; want both", ids)
	}
	h.must("ivy", "requests", "view", frankReq)
	var ivySaw bool
	for _, e := range auditList(t, h, "ivy", "--user", "alice") {
		ivySaw = ivySaw || strings.Contains(string(e.Data), "alice-password")
	}
	if !ivySaw {
		t.Error("the auditor does not see alice's decision")
	}
	if err := audit.VerifyJSONL(strings.NewReader(h.must("ivy", "audit", "export").stdout)); err != nil {
		t.Errorf("auditor's export does not verify: %v", err)
	}
	if r := h.run("ivy", "requests", "cancel", frankReq); r.code != exitcode.NotPermitted {
		t.Errorf("auditor cancels: exit %d", r.code)
	}
	if got, err := h.svc.Get(h.ctx, frankReq); err != nil || got.Status != mpa.StatusPending {
		t.Errorf("frank's request after the auditor's tries: %v %v", got.Status, err)
	}
}
