package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// TestEventOf: the audit events that are webhook events, and the ones
// that are not (a vote short of quorum, a release, lapsed approvals).
func TestEventOf(t *testing.T) {
	for kind, want := range map[string]string{
		"request.created":     "request.created",
		"request.approved":    "request.approved",
		"request.rejected":    "request.rejected",
		"request.cancelled":   "request.cancelled",
		"request.expired":     "request.expired",
		"request.completed":   "request.completed",
		"request.interrupted": "request.interrupted",
		"request.approval":    "",
		"request.rejection":   "",
		"request.executing":   "",
		"request.pending":     "",
		"request.output":      "",
		"decision":            "",
	} {
		if got := eventOf(kind); got != want {
			t.Errorf("eventOf(%q) = %q; want %q", kind, got, want)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"kill -9 1", 120, "kill -9 1"},
		{"echo `id`", 120, "echo 'id'"},
		{"rm x\u202e\n", 120, `rm x\u202e\u000a`},
		{"abcdef", 3, "abc…"},
	}
	for _, tt := range tests {
		if got := shorten(tt.in, tt.max); got != tt.want {
			t.Errorf("shorten(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// An interrupted run has no exit status in its webhook, and its text
// says why and that the outcome is unknown.
func TestInterruptedNotificationHasNoExitStatus(t *testing.T) {
	r := &mpa.Request{ID: "req-1", Kind: mpa.KindCommand, Status: mpa.StatusInterrupted, Requester: "alice", Target: "t1", Command: "zfs destroy x",
		Execution: &mpa.Execution{Node: "gate-1", Start: time.Unix(1, 0), End: time.Unix(2, 0), Error: "connection to the target lost while the command ran: EOF"}}
	n := notification("request.interrupted", r)
	if n.ExitStatus != nil {
		t.Errorf("exit_status = %d; want none for an interrupted run", *n.ExitStatus)
	}
	if !strings.Contains(n.Text, "outcome unknown") || !strings.Contains(n.Text, "connection to the target lost") {
		t.Errorf("text %q does not say the outcome is unknown and why", n.Text)
	}
	r.Status = mpa.StatusCompleted
	if n := notification("request.completed", r); n.ExitStatus == nil {
		t.Error("a completed run lost its exit status")
	}
}
