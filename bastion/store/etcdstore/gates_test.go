package etcdstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// Three gates, each its own Service on its own etcd client, share one
// store: a request created on A shows on B and C, approvals cast on B and
// C release it, a release raced on all three runs once, and the same TOTP
// code presented at two gates is accepted once.
func TestThreeGates(t *testing.T) {
	prefix := freshPrefix()
	clock := mpatest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	var gates []*mpa.Service
	for _, node := range []string{"gate-a", "gate-b", "gate-c"} {
		st := openOn(t, prefix, Options{})
		gates = append(gates, mpa.New(st, mpa.Options{Now: clock.Now, Logger: logger(t), Node: node}))
	}
	a, b, c := gates[0], gates[1], gates[2]
	ctx := ctxT(t)
	secrets := map[string]string{}
	for i, u := range []string{"bob", "carol"} {
		secrets[u] = mpatest.Register(t, ctx, gates[i+1], u, clock.Now())
	}
	clock.Advance(30 * time.Second)
	r, err := a.Create(ctx, mpa.NewRequest{Actions: []mpa.ActionRef{{Name: "destroy", Service: "zfs"}},
		Target: "nas-1", Command: "zfs destroy tank/old", Requester: "alice", RequiredApprovals: 2})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := a.Watch(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-watch // the pending state
	for _, g := range []*mpa.Service{b, c} {
		list, err := g.List(ctx, mpa.ListFilter{Statuses: []mpa.Status{mpa.StatusPending}})
		if err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Fatalf("pending list on another gate = %v, %v", list, err)
		}
	}
	// bob's code, replayed at a second gate, is accepted once.
	code := mpatest.Oathtool(t, secrets["bob"], clock.Now())
	errs := mpatest.Race(2, func(i int) error {
		_, err := []*mpa.Service{b, c}[i].Approve(ctx, r.ID, "bob", mpa.VoteInput{Code: code})
		return err
	})
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("bob's code at two gates: %v and %v; want exactly one accepted", errs[0], errs[1])
	}
	if _, err := c.Approve(ctx, r.ID, "carol", mpa.VoteInput{Code: mpatest.Oathtool(t, secrets["carol"], clock.Now())}); err != nil {
		t.Fatal(err)
	}
	// A sees the approval through its watch, driven by the change feed.
	deadline := time.After(20 * time.Second)
	for approved := false; !approved; {
		select {
		case got, ok := <-watch:
			if !ok {
				t.Fatal("watch ended before approval")
			}
			approved = got.Status == mpa.StatusApproved
		case <-deadline:
			t.Fatal("gate A did not see the approval within 20s")
		}
	}
	released := mpatest.Race(len(gates), func(i int) error {
		_, err := gates[i].BeginExecution(ctx, r.ID, "alice")
		return err
	})
	if ran := mpatest.Succeeded(t, []string{"gate-a release", "gate-b release", "gate-c release"}, released, mpa.ErrAlreadyReleased); ran != 1 {
		t.Fatalf("released %d times; want once", ran)
	}
	if _, err := b.FinishExecution(ctx, r.ID, mpa.ExecResult{ExitStatus: 0}); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}

// Expiry runs on every gate; each request is expired once.
func TestExpireOnce(t *testing.T) {
	prefix := freshPrefix()
	clock := mpatest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	var gates []*mpa.Service
	for _, node := range []string{"gate-a", "gate-b"} {
		gates = append(gates, mpa.New(openOn(t, prefix, Options{}), mpa.Options{Now: clock.Now, Logger: logger(t), Node: node}))
	}
	ctx := context.Background()
	for range 5 {
		if _, err := gates[0].Create(ctx, mpa.NewRequest{Target: "t", Command: "rm -rf /srv/x", Requester: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(8 * 24 * time.Hour)
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, g := range gates {
		wg.Go(func() {
			n, err := g.ExpireDue(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != 5 {
		t.Fatalf("gates expired %v; want 5 in all, each once", counts)
	}
	n := 0
	for e, err := range gates[1].AuditEvents(ctx, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == "request.expired" {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d expiry events; want 5", n)
	}
}

// A gate killed while its command runs: once its lease is gone another
// gate marks the request Interrupted, once, and it is never released
// again; while the gate is live nobody touches its run.
func TestInterruptGone(t *testing.T) {
	prefix := freshPrefix()
	clock := mpatest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	sa, sb := openOn(t, prefix, Options{}), openOn(t, prefix, Options{})
	a := mpa.New(sa, mpa.Options{Now: clock.Now, Logger: logger(t), Node: "gate-a"})
	b := mpa.New(sb, mpa.Options{Now: clock.Now, Logger: logger(t), Node: "gate-b"})
	ctx := ctxT(t)
	ma, err := sa.Join(ctx, "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	// Its keep-alive goroutine logs to t: it must end with the test.
	defer ma.Close()
	mb, err := sb.Join(ctx, "gate-b")
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	r, err := a.Create(ctx, mpa.NewRequest{Target: "t", Command: "zfs destroy tank/x", Requester: "alice", RequiredApprovals: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Approve behind the service's back: this test is about execution.
	err = sa.Update(ctx, func(tx mpa.Tx) error {
		got, err := tx.GetRequest(r.ID)
		if err != nil {
			return err
		}
		got.Status = mpa.StatusApproved
		// Release recounts the votes with the roles in force: one is here.
		got.Approvals = append(got.Approvals, mpa.Vote{Approver: "carol", At: clock.Now()})
		return tx.PutRequest(got, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.BeginExecution(ctx, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.InterruptGone(ctx); err != nil || len(got) != 0 {
		t.Fatalf("with gate-a live, gate-b interrupted %v, %v; want nothing", got, err)
	}
	// gate-a is killed: its lease is revoked from outside, as expiry would.
	if _, err := newClient(t).Revoke(ctx, leaseOf(ma)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	marked := make([][]mpa.Request, 2)
	for i, g := range []*mpa.Service{b, mpa.New(openOn(t, prefix, Options{}), mpa.Options{Now: clock.Now, Logger: logger(t), Node: "gate-c"})} {
		wg.Go(func() {
			var err error
			marked[i], err = g.InterruptGone(ctx)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(marked[0]) + len(marked[1]); n != 1 {
		t.Fatalf("gates marked %d requests; want the one, once", n)
	}
	got, err := b.Get(ctx, r.ID)
	if err != nil || got.Status != mpa.StatusInterrupted {
		t.Fatalf("request after gate-a died: %v, %v; want interrupted", got.Status, err)
	}
	if _, err := b.BeginExecution(ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrAlreadyReleased) {
		t.Fatalf("release after interruption: %v; want ErrAlreadyReleased", err)
	}
	if _, err := a.FinishExecution(ctx, r.ID, mpa.ExecResult{}); !errors.Is(err, mpa.ErrNotExecuting) {
		t.Fatalf("the dead gate's late finish: %v; want ErrNotExecuting", err)
	}
}

// With etcd down (a lost quorum looks the same to a gate) nothing is
// recorded, so nothing runs: Record fails, and so does a release. When
// etcd is back the same gate works again without a restart, and its
// change feed goes on.
func TestEtcdDownFailsClosedThenRecovers(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := Open(Options{Client: cli, Prefix: "/down/", SecretKey: testKey(), Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := mpa.New(st, mpa.Options{Logger: logger(t), Node: "gate-a"})
	ctx := ctxT(t)
	feed, err := st.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Create(ctx, mpa.NewRequest{Target: "t", Command: "reboot", Requester: "alice", RequiredApprovals: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Down()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = svc.Record(short, audit.Event{Kind: "decision", Actor: "alice"})
	cancel()
	if err == nil {
		t.Fatal("a decision was recorded with etcd down")
	}
	short, cancel = context.WithTimeout(ctx, 2*time.Second)
	_, err = svc.BeginExecution(short, r.ID, "alice")
	cancel()
	if err == nil {
		t.Fatal("a release succeeded with etcd down")
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = svc.Record(short, audit.Event{Kind: "decision", Actor: "alice"})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 30s after etcd came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The feed saw the create before the outage and sees the record after.
	for {
		select {
		case c := <-feed:
			if c.Kind == mpa.ChangeAudit && c.Audit.Kind == "decision" {
				if err := svc.VerifyAudit(ctx); err != nil {
					t.Fatalf("chain after the outage: %v", err)
				}
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatal("change feed did not resume after the outage")
		}
	}
}

// On a three-member cluster: one member lost, decisions are still
// recorded; two lost (no quorum), none is, so nothing runs; one back,
// the gate records again by itself, without a restart.
func TestClusterMemberLoss(t *testing.T) {
	c, err := etcdtest.StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	st, err := Open(Options{Endpoints: c.Endpoints, Prefix: "/cluster/", SecretKey: testKey(), Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := mpa.New(st, mpa.Options{Logger: logger(t), Node: "gate-a"})
	ctx := ctxT(t)
	record := func() error {
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := svc.Record(short, audit.Event{Kind: "decision", Actor: "alice"})
		return err
	}
	eventually := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := record()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still failing after 30s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := record(); err != nil {
		t.Fatal(err)
	}
	// The first endpoint, the one the client most likely uses, dies.
	c.Members[0].Down()
	eventually("one member of three down")
	for i := range 20 {
		if err := record(); err != nil {
			t.Fatalf("record %d with two members of three: %v", i, err)
		}
	}
	c.Members[1].Down()
	if err := record(); err == nil {
		t.Fatal("a decision was recorded without quorum")
	}
	if err := c.Members[0].Up(); err != nil {
		t.Fatal(err)
	}
	eventually("quorum back")
	if err := svc.VerifyAudit(ctx); err != nil {
		t.Fatalf("chain after the outage: %v", err)
	}
}

// A lost and regained quorum keeps every gate's membership: etcd resets
// lease timers when a new leader is elected, so the lease is alive when
// the quorum is back, and the gate carries on by itself. Before, the
// client gave the membership up once etcd had not answered for a TTL, and
// every gate stopped serving. A lease that really ends still ends it.
func TestMembershipSurvivesQuorumLoss(t *testing.T) {
	c, err := etcdtest.StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	// A lease of 3 s: with 1 s, a keep-alive starved of CPU for a second on
	// a loaded machine (seen under -race with other suites running) lets
	// the lease end for real once the quorum is back, which is not what
	// this test is about.
	const ttl = 3 * time.Second
	st, err := Open(Options{Endpoints: c.Endpoints, Prefix: "/quorum/", SecretKey: testKey(), Logger: logger(t), SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := ctxT(t)
	m, err := st.Join(ctx, "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c.Members[0].Down()
	c.Members[1].Down()
	time.Sleep(2 * ttl) // two TTLs without a quorum
	select {
	case <-m.Done():
		t.Fatal("membership ended while etcd had no quorum: the gate would stop for an outage it cannot tell from its own")
	default:
	}
	if err := c.Members[0].Up(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var live bool
		err := st.View(ctx, func(tx mpa.Tx) error {
			var err error
			live, err = tx.GateLive("gate-a")
			return err
		})
		if err == nil && live {
			break
		}
		if err == nil && !live {
			t.Fatal("gate-a not live once the quorum is back: its lease was lost")
		}
		if time.Now().After(deadline) {
			t.Fatalf("store unreadable 30s after the quorum came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-m.Done():
		t.Fatal("membership ended after the quorum came back")
	default:
	}
	// The lease ends for real (as when this gate alone was cut off past
	// its TTL): the membership ends.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Revoke(ctx, leaseOf(m)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("membership still on 30s after its lease was revoked")
	}
}
