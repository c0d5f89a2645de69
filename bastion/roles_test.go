package bastion

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// TestVoteLapsesWithConfigRole is issue 16 item 10 through the gate's own
// wiring: dave approves, an operator takes the approver role from him in
// keyturn.yaml and restarts the gate, and his vote no longer completes the
// quorum.
func TestVoteLapsesWithConfigRole(t *testing.T) {
	log := testLogger(t)
	conf := func(daveRole string) *config.Config {
		t.Helper()
		text := "users:\n"
		for _, u := range []struct{ name, role string }{{"alice", "admin"}, {"carol", "approver"}, {"dave", daveRole}, {"erin", "approver"}} {
			text += "  - name: " + u.name + "\n    roles: [" + u.role + "]\n    keys: [\"" + AuthorizedKey(testSigner(t).PublicKey(), "") + "\"]\n"
		}
		cfg, err := config.Parse(filepath.Join(t.TempDir(), "keyturn.yaml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	before := NewService(conf("approver"), st, log)
	secrets := map[string]string{}
	now := time.Now()
	for _, u := range []string{"carol", "dave", "erin"} {
		secrets[u] = mpatest.Register(t, ctx, before, u, now)
	}
	r, err := before.Create(ctx, mpa.NewRequest{Actions: []mpa.ActionRef{{Name: "kill_process", Service: "process"}},
		Target: "t1", Command: "kill -9 1", Requester: "alice", RequiredApprovals: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Codes for the next step: the registration used this one.
	next := now.Add(30 * time.Second)
	if _, err := before.Approve(ctx, r.ID, "dave", mpa.VoteInput{Code: mpatest.Oathtool(t, secrets["dave"], next)}); err != nil {
		t.Fatal(err)
	}

	after := NewService(conf("admin"), st, log) // config edited, gate restarted
	got, err := after.Approve(ctx, r.ID, "carol", mpa.VoteInput{Code: mpatest.Oathtool(t, secrets["carol"], next)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != mpa.StatusPending {
		t.Fatalf("carol's vote with dave's, after dave lost the role: %s; want pending", got.Status)
	}
	got, err = after.Approve(ctx, r.ID, "erin", mpa.VoteInput{Code: mpatest.Oathtool(t, secrets["erin"], next)})
	if err != nil || got.Status != mpa.StatusApproved {
		t.Fatalf("carol and erin: %v, %v; want approved", got.Status, err)
	}
}
