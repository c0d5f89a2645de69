package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// delivery is one POST the receiver got.
type delivery struct{ id, gate, event, request string }

// Two gates on one etcd store; gate-a leads the webhooks, then loses its
// lease without noticing (a gate paused past its lease, or cut off from
// etcd while its keep-alive has not failed yet: here its lead is taken
// away from another client and nothing tells its notifier). gate-b takes
// the lead. Every POST names its sender (X-Keyturn-Gate): a notification
// of a request created after the handover must come from gate-b only,
// and gate-a's notifier must stop on its first check. Without the
// leadership check before each POST, gate-a would go on sending every
// notification gate-b sends: two gates, one delivery id, at once.
func TestWebhookOneSenderAfterLeadLost(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	const prefix = "/keyturn/leader-test/"
	open := func(gate string) (*etcdstore.Store, *mpa.Service) {
		st, err := etcdstore.Open(etcdstore.Options{Endpoints: srv.Endpoints, Prefix: prefix, Chain: gate,
			SecretKey: []byte("0123456789abcdef0123456789abcdef"), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, mpa.New(st, mpa.Options{Logger: log, Node: gate})
	}
	stA, svcA := open("gate-a")
	stB, svcB := open("gate-b")

	var mu sync.Mutex
	var got []delivery
	arrived := make(chan struct{}, 1000)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ ID, Event, Request string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
			return
		}
		mu.Lock()
		got = append(got, delivery{body.ID, r.Header.Get(HeaderGate), body.Event, body.Request})
		mu.Unlock()
		arrived <- struct{}{}
	}))
	defer hook.Close()
	// from returns the deliveries of request id's creation, by gate.
	from := func(id string) map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for _, d := range got {
			if d.request == id && d.event == "request.created" {
				out[d.gate] = append(out[d.gate], d.id)
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// waitFor waits (bounded) for cond, checked at each delivery.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-arrived:
			case <-time.After(30 * time.Second):
				t.Fatalf("no %s within 30s; deliveries: %+v", what, got)
			}
		}
	}
	run := func(gate string, st mpa.Store, svc *mpa.Service, l mpa.Leadership) <-chan error {
		n, err := New([]Endpoint{endpoint("hook", hook.URL)}, Options{Logger: log, Backoff: noBackoff, Gate: gate})
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		n.ready = func() { close(ready) }
		done := make(chan error, 1)
		defer func() {
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s's notifier not following within 30s", gate)
			}
		}()
		// Nothing here ends the run when l ends: the gate has not
		// noticed. Only the notifier's own checks can stop it.
		go func() { done <- n.RunFenced(ctx, st, svc, l.Fence) }()
		return done
	}

	lA, err := stA.Campaign(ctx, "webhooks", "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	doneA := run("gate-a", stA, svcA, lA)
	// gate-a follows from when it starts: create until it sends.
	var first mpa.Request
	for {
		first, err = svcA.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "true", Requester: "probe"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("gate-a sent nothing within 30s")
		}
		if len(from(first.ID)["gate-a"]) > 0 {
			break
		}
	}

	// gate-a's lead is lost behind its back: its election key's lease
	// revoked from another client, as an expiry would.
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, prefix+"elect/webhooks/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	for _, kv := range resp.Kvs {
		if string(kv.Value) == "gate-a" {
			if _, err := cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
				t.Fatal(err)
			}
			revoked = true
		}
	}
	if !revoked {
		t.Fatalf("gate-a's election key not found under %select/webhooks/", prefix)
	}
	lB, err := stB.Campaign(ctx, "webhooks", "gate-b")
	if err != nil {
		t.Fatal(err)
	}
	doneB := run("gate-b", stB, svcB, lB)

	// Requests created after the handover, on both gates.
	var ids []string
	for i := range 4 {
		svc := svcA
		if i%2 == 1 {
			svc = svcB
		}
		r, err := svc.Create(ctx, mpa.NewRequest{Target: "web-1", Command: "reboot", Requester: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// gate-a must stop at its first check; a POST from it fails now.
	senders := func() bool {
		for _, id := range ids {
			if a := from(id)["gate-a"]; len(a) > 0 {
				t.Fatalf("gate-a sent %s of %s after it lost the lead (ids %v; gate-b sent %v)", "request.created", id, a, from(id)["gate-b"])
			}
		}
		return true
	}
	timeout := time.After(30 * time.Second)
wait:
	for {
		select {
		case err := <-doneA:
			if !errors.Is(err, mpa.ErrNotLeader) {
				t.Fatalf("gate-a's notifier ended with %v; want ErrNotLeader", err)
			}
			break wait
		case <-arrived:
			senders()
		case <-timeout:
			senders()
			t.Fatal("gate-a's notifier still running 30s after it lost the lead")
		}
	}
	// gate-b sends each of them, with one id each, and gate-a none.
	waitFor("notification of every request from gate-b", func() bool {
		for _, id := range ids {
			if len(from(id)["gate-b"]) == 0 {
				return false
			}
		}
		return true
	})
	senders()
	for _, id := range ids {
		seen := map[string]bool{}
		for _, d := range from(id)["gate-b"] {
			seen[d] = true
		}
		if len(seen) != 1 {
			t.Errorf("request %s: delivery ids %v; want one", id, from(id)["gate-b"])
		}
	}
	select {
	case err := <-doneB:
		t.Fatalf("gate-b's notifier ended: %v", err)
	default:
	}
}
