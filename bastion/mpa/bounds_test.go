package mpa_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// TestRecordBounds: whatever the caller, a request or event over the hard
// bounds is refused, not stored; the chain is untouched.
func TestRecordBounds(t *testing.T) {
	e := newEnv(t, mpa.Options{})
	base := mpa.NewRequest{Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}}, Target: "web-1",
		Command: "kill 1", Requester: "alice"}
	for name, nr := range map[string]mpa.NewRequest{
		"command": func() mpa.NewRequest { r := base; r.Command = strings.Repeat("a", mpa.MaxCommand+1); return r }(),
		"why": func() mpa.NewRequest {
			r := base
			r.Why = json.RawMessage(`"` + strings.Repeat("a", mpa.MaxWhy) + `"`)
			return r
		}(),
		"reason": func() mpa.NewRequest { r := base; r.Reason = strings.Repeat("a", mpa.MaxReason+1); return r }(),
	} {
		if _, err := e.svc.Create(e.ctx, nr); !errors.Is(err, mpa.ErrInvalid) {
			t.Errorf("oversize %s: %v, want ErrInvalid", name, err)
		}
	}
	big := json.RawMessage(`{"x":"` + strings.Repeat("a", mpa.MaxEventData) + `"}`)
	if _, err := e.svc.Record(e.ctx, audit.Event{Kind: "decision", Actor: "alice", Data: big}); !errors.Is(err, mpa.ErrInvalid) {
		t.Errorf("oversize event: %v, want ErrInvalid", err)
	}
	if n := len(e.events(audit.Filter{})); n != 0 {
		t.Errorf("%d events stored", n)
	}
	// At the bound itself, it is stored.
	r := base
	r.Command = strings.Repeat("a", mpa.MaxCommand)
	if _, err := e.svc.Create(e.ctx, r); err != nil {
		t.Errorf("command of exactly MaxCommand: %v", err)
	}
	e.verifyAudit()
}
