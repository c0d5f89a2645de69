package server

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// Two gates assembled by Open from keyturn.yaml with store.backend etcd
// share one store: a request created through one is listed by the other;
// a third gate with a gate_id already live is refused; the TOTP secret
// never reaches etcd in the clear; a gate whose membership ends stops.
func TestOpenEtcdGates(t *testing.T) {
	srv, dir := startEtcdGateDir(t, nil)
	open := func(gateID string) (*Server, error) {
		text := "gate_id: " + gateID + "\ndata_dir: ./data-" + gateID + "\npolicies: policies.yaml\n" +
			"store:\n  backend: etcd\n  endpoints: [" + srv.Endpoints[0] + "]\n  prefix: /keyturn/site-a/\n  encryption_key_file: secrets.key\n"
		cfg, err := config.Parse(filepath.Join(dir, "keyturn-"+gateID+".yaml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return Open(context.Background(), cfg, Options{Logger: testLogger(t)})
	}
	a, err := open("gate-a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := open("gate-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("gate-a"); !errors.Is(err, mpa.ErrGateIDInUse) {
		t.Fatalf("a second live gate-a: %v; want ErrGateIDInUse", err)
	}
	ctx := context.Background()
	r, err := a.MPA.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "zfs destroy tank/old", Requester: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.MPA.Get(ctx, r.ID)
	if err != nil || got.Command != r.Command {
		t.Fatalf("gate-b reads %+v, %v", got, err)
	}
	reg, err := b.MPA.InitiateRegistration(ctx, "carol", false)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawValues(t, srv.Endpoints)
	if !strings.Contains(raw, `"name":"carol"`) {
		t.Fatal("carol's record not found in etcd; the check below would prove nothing")
	}
	if strings.Contains(raw, reg.Secret) {
		t.Fatal("the TOTP secret is in etcd in the clear")
	}
	// gate-b's membership ends (as a lease expiry would): it stops serving.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background(), l) }()
	b.member.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "membership lost") {
			t.Fatalf("gate-b stopped with %v; want membership lost", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gate-b still serving 30s after its membership ended")
	}
}

// startEtcdGateDir starts an etcd that stops when the test ends, and makes
// a directory for gates' configs holding the store's encryption key as
// secrets.key, the repository's policies.yaml, and files (name: content).
func startEtcdGateDir(t *testing.T, files map[string]string) (*etcdtest.Server, string) {
	t.Helper()
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	dir := t.TempDir()
	policy, err := os.ReadFile("../../policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = maps.Clone(files)
	if files == nil {
		files = map[string]string{}
	}
	files["secrets.key"] = "0123456789abcdef0123456789abcdef"
	files["policies.yaml"] = string(policy)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return srv, dir
}

// rawValues is every value stored in etcd, as one string.
func rawValues(t *testing.T, endpoints []string) string {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range resp.Kvs {
		b.Write(kv.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

// Two running gates on one etcd store with the same webhook: each
// notification is delivered once (by the webhooks leader), not once per
// gate; when the leader stops, the other gate takes over.
func TestEtcdWebhooksOnce(t *testing.T) {
	srv, dir := startEtcdGateDir(t, map[string]string{"hook.key": "hook-secret-of-sixteen-bytes"})
	var mu sync.Mutex
	// created counts request.created deliveries per request; createdIDs
	// holds their delivery ids. Delivery is at least once across a leader
	// change (README): a resend carries the same id, which receivers drop.
	created := map[string]int{}
	createdIDs := map[string]map[string]bool{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ ID, Event, Request string }
		if err := json.NewDecoder(r.Body).Decode(&body); err == nil && body.Event == "request.created" {
			mu.Lock()
			created[body.Request]++
			if createdIDs[body.Request] == nil {
				createdIDs[body.Request] = map[string]bool{}
			}
			createdIDs[body.Request][body.ID] = true
			mu.Unlock()
		}
	}))
	defer hook.Close()
	type running struct {
		s    *Server
		stop func() error
	}
	start := func(gateID string) running {
		text := "gate_id: " + gateID + "\ndata_dir: ./data-" + gateID + "\npolicies: policies.yaml\n" +
			"store:\n  backend: etcd\n  endpoints: [" + srv.Endpoints[0] + "]\n  encryption_key_file: secrets.key\n" +
			"webhooks:\n  - url: " + hook.URL + "\n    secret_file: hook.key\n"
		cfg, err := config.Parse(filepath.Join(dir, gateID+".yaml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(context.Background(), cfg, Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		_, stop := serve(t, s)
		return running{s, stop}
	}
	// gate-a starts alone, so it leads; gate-b joins once a has sent.
	a := start("gate-a")
	var b running
	defer func() {
		for _, g := range []running{a, b} {
			if g.stop != nil {
				g.stop()
			}
		}
	}()
	waitCreated := func(id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := created[id]
			mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no webhook for %s within 20s", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx := context.Background()
	// A leader follows the store from when it starts leading: probe until
	// some gate sends, so the requests counted below are not created
	// before anyone follows.
	probe := func(g running) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			r, err := g.s.MPA.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "true", Requester: "probe"})
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				mu.Lock()
				n := created[r.ID]
				mu.Unlock()
				if n > 0 {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			if time.Now().After(deadline) {
				t.Fatal("no gate sent webhooks within 20s")
			}
		}
	}
	probe(a)
	var ids []string
	for i := range 2 {
		g := a
		if i == 1 {
			b = start("gate-b")
			g = b
		}
		r, err := g.s.MPA.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "reboot", Requester: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		waitCreated(r.ID)
	}
	// Stop the leader; gate-b must take over.
	a.stop()
	probe(b)
	r, err := b.s.MPA.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "reboot", Requester: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, r.ID)
	waitCreated(r.ID)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to arrive
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if created[id] < 1 || len(createdIDs[id]) != 1 {
			t.Errorf("request %s: %d request.created deliveries with %d delivery ids %v; want at least one, all with one id",
				id, created[id], len(createdIDs[id]), createdIDs[id])
		}
	}
}

// store.lease_ttl reaches the store: a gate's membership lease is granted
// for it (and so Interrupted follows it, see interruptGone).
func TestOpenEtcdLeaseTTL(t *testing.T) {
	srv, dir := startEtcdGateDir(t, nil)
	for _, tc := range []struct {
		line string
		want int64
	}{{"", 10}, {"  lease_ttl: 3s\n", 3}} {
		text := "gate_id: gate-a\nstore:\n  backend: etcd\n  endpoints: [" + srv.Endpoints[0] + "]\n  prefix: /ttl-test/\n  encryption_key_file: secrets.key\n" + tc.line
		cfg, err := config.Parse(filepath.Join(dir, "keyturn.yaml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		st, err := OpenStore(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		m, err := st.Join(ctx, "gate-a")
		if err != nil {
			t.Fatal(err)
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Get(ctx, "/ttl-test/members/gate-a")
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("member key: %v, %v", resp, err)
		}
		ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
		if err != nil {
			t.Fatal(err)
		}
		if ttl.GrantedTTL != tc.want {
			t.Errorf("lease_ttl %q: membership lease granted for %ds; want %d", strings.TrimSpace(tc.line), ttl.GrantedTTL, tc.want)
		}
		cli.Close()
		m.Close()
		st.Close()
		cancel()
	}
}
