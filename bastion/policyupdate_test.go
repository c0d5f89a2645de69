package bastion

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

const (
	policyV1 = "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\n"
	policyV2 = "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\n  - name: reboot\n    service: system\n    match: [{command: reboot}]\n"
	policyV3 = "version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: pkill}]\n"
)

// policyFixture is a policy holder wired to a real in-memory store with
// MPA enabled, as server.Open wires them.
type policyFixture struct {
	path  string
	h     *PolicyHolder
	ctl   *PolicyController
	svc   *mpa.Service
	store *badgerstore.Store
}

func newPolicyFixture(t *testing.T) *policyFixture {
	t.Helper()
	log := testLogger(t)
	h := mustPolicy(t, policyV1)
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := mpa.New(st, mpa.Options{Logger: log})
	f := &policyFixture{path: h.path, h: h, ctl: NewPolicyController(h, svc, log), svc: svc, store: st}
	f.enableMPA(t)
	if err := f.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// enableMPA registers two approvers and turns MPA on.
func (f *policyFixture) enableMPA(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"bob", "carol"} {
		mpatest.Register(t, ctx, f.svc, u, now)
	}
	if _, err := f.svc.SetEnabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
}

func (f *policyFixture) write(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f.ctl.Reload(context.Background()) // a broken file's error is the point of some tests
}

func (f *policyFixture) pending(t *testing.T) []mpa.Request {
	t.Helper()
	rs, err := f.svc.List(context.Background(), mpa.ListFilter{Kind: mpa.KindUpdatePolicy, Statuses: []mpa.Status{mpa.StatusPending}})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// wantPending fails the test, naming when, unless the pending policy
// changes are exactly those to texts, in order.
func (f *policyFixture) wantPending(t *testing.T, when string, texts ...string) {
	t.Helper()
	p := f.pending(t)
	ok := len(p) == len(texts)
	for i := 0; ok && i < len(p); i++ {
		ok = containsText(p[i], texts[i])
	}
	if !ok {
		ids := make([]string, len(p))
		for i, r := range p {
			ids[i] = r.ID
		}
		t.Fatalf("%s: policy changes pending %v; want %d, to the texts given", when, ids, len(texts))
	}
}

// cancelledWithReason counts request.cancelled events that say why.
func (f *policyFixture) cancelledWithReason(t *testing.T) int {
	t.Helper()
	n := 0
	for e, err := range f.svc.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == "request.cancelled" && e.Actor == mpa.SystemActor && len(e.Data) > 0 {
			n++
		}
	}
	return n
}

// TestPolicyRevertWithdrawsPendingChange is issue 16 item 12: edit the
// file (held as update_policy), put it back, and the pending change must
// go; before, it stayed, and approving it installed a rule the file no
// longer had.
func TestPolicyRevertWithdrawsPendingChange(t *testing.T) {
	f := newPolicyFixture(t)
	f.write(t, policyV2)
	f.wantPending(t, "after the edit", policyV2)
	f.write(t, policyV1)
	f.wantPending(t, "after the revert")
	if n := f.cancelledWithReason(t); n != 1 {
		t.Errorf("%d audited withdrawals, want 1", n)
	}
	if err := f.svc.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Saving the file in force again files nothing.
	f.write(t, policyV1)
	f.wantPending(t, "after saving the policy in force again")
}

// TestPolicyRevertRoutes tries the other ways back to the policy in force
// and the other ways for the file to stop holding a pending change.
func TestPolicyRevertRoutes(t *testing.T) {
	t.Run("two edits then revert", func(t *testing.T) {
		f := newPolicyFixture(t)
		f.write(t, policyV2)
		f.write(t, policyV3)
		f.wantPending(t, "after two edits", policyV3)
		f.write(t, policyV1)
		f.wantPending(t, "after the revert")
	})
	t.Run("same edit saved twice keeps one", func(t *testing.T) {
		f := newPolicyFixture(t)
		f.write(t, policyV2)
		f.write(t, policyV2)
		f.wantPending(t, "after the same edit twice", policyV2)
	})
	t.Run("broken file", func(t *testing.T) {
		f := newPolicyFixture(t)
		f.write(t, policyV2)
		f.write(t, "version: 1\nactions: [\n")
		f.wantPending(t, "after a broken file")
		if f.h.Current().Actions()[0].Name != "kill_process" || len(f.h.Actions()) != 1 {
			t.Fatal("the policy in force changed")
		}
	})
	t.Run("file removed", func(t *testing.T) {
		f := newPolicyFixture(t)
		f.write(t, policyV2)
		if err := os.Remove(f.path); err != nil {
			t.Fatal(err)
		}
		f.ctl.Reload(context.Background())
		f.wantPending(t, "after the file was removed")
	})
	t.Run("reverted while the gate was down", func(t *testing.T) {
		f := newPolicyFixture(t)
		f.write(t, policyV2)
		if err := os.WriteFile(f.path, []byte(policyV1), 0o600); err != nil {
			t.Fatal(err)
		}
		// A restart: a new holder on the same store.
		log := testLogger(t)
		h, err := LoadPolicy(f.path, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewPolicyController(h, f.svc, log).Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.wantPending(t, "after a restart on the reverted file")
	})
}

func containsText(r mpa.Request, text string) bool {
	p, _, err := policyPayload([]byte(text))
	return err == nil && string(r.Payload) == string(p)
}
