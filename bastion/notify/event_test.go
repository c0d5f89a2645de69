package notify

import "testing"

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
