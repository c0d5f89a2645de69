package mpacli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// ran has a request approved, run and its output kept, as the gate does.
func (h *harness) ran(write func(rec *mpa.OutputRecorder)) string {
	h.t.Helper()
	h.enable()
	id := h.create()
	for _, u := range []string{"bob", "carol"} {
		h.must(u, "requests", "approve", id, "--totp-code", h.code(u))
	}
	h.step()
	if _, err := h.svc.BeginExecution(h.ctx, id, "alice"); err != nil {
		h.t.Fatal(err)
	}
	mpatest.FinishWithOutput(h.t, h.ctx, h.svc, id, h.clock.Now, write)
	return id
}

func TestRequestsOutput(t *testing.T) {
	h := newHarness(t)
	id := h.ran(func(rec *mpa.OutputRecorder) {
		fmt.Fprint(rec.Stdout(), "killed 4242\n\x1b[2J\x1b]0;owned\x07\n")
		fmt.Fprint(rec.Stderr(), "warning: it was busy\n")
	})
	r := h.must("bob", "requests", "output", id)
	for _, want := range []string{
		"request " + id + ": 48 bytes of output",
		"kept in full",
		"   +0.000s out  killed 4242\n",
		"   +0.000s err  warning: it was busy\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.ContainsAny(r.stdout, "\x1b\x07") {
		t.Errorf("terminal escapes reached the terminal: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "matches audit event") || !strings.Contains(r.stderr, "chain verified") {
		t.Errorf("stderr %q; want the audit check reported", r.stderr)
	}

	cast := h.must("alice", "requests", "output", id, "--cast").stdout
	first, _, _ := strings.Cut(cast, "\n")
	var header map[string]any
	if err := json.Unmarshal([]byte(first), &header); err != nil || header["version"] != float64(2) {
		t.Errorf("--cast header %q (%v)", first, err)
	}
	if !strings.Contains(cast, `"o","killed 4242\n\u001b[2J`) {
		t.Errorf("--cast lacks the raw output (a recording replays it as it was):\n%s", cast)
	}

	var o mpa.Output
	if err := json.Unmarshal([]byte(h.must("bob", "requests", "output", id, "--json").stdout), &o); err != nil || o.Request != id || len(o.Head) != 2 {
		t.Errorf("--json: %+v %v", o, err)
	}

	if r := h.run("mallory", "requests", "output", id); r.code != exitcode.NotPermitted {
		t.Errorf("mallory (no role) read the output: exit %d", r.code)
	}
}

func TestRequestsOutputRefusesAForgedCopy(t *testing.T) {
	h := newHarness(t)
	id := h.ran(func(rec *mpa.OutputRecorder) { fmt.Fprint(rec, "zfs: destroyed tank@snap\n") })
	err := h.store.Update(h.ctx, func(tx mpa.Tx) error {
		forged, _ := json.Marshal(mpa.Output{Request: id, Head: []mpa.OutputChunk{{Stream: "o", Data: []byte("nothing to see\n")}}})
		return tx.(mpa.OutputTx).PutOutput(id, forged, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	r := h.run("bob", "requests", "output", id)
	if r.code == 0 || strings.Contains(r.stdout, "nothing to see") || !strings.Contains(r.stderr, "does not match the audit trail") {
		t.Errorf("forged copy: exit %d stdout %q stderr %q; want refused", r.code, r.stdout, r.stderr)
	}
}

func TestRequestsOutputNotKept(t *testing.T) {
	h := newHarness(t)
	h.enable()
	id := h.create()
	if r := h.run("bob", "requests", "output", id); r.code == 0 || !strings.Contains(r.stderr, "has no kept output") {
		t.Errorf("pending request: exit %d stderr %q", r.code, r.stderr)
	}
	if r := h.run("bob", "requests", "output", "req-0000000000"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown request: exit %d stderr %q", r.code, r.stderr)
	}
}
