package bastion

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secrets.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := os.ReadFile("../policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), policy, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(gateID string) (*Server, error) {
		text := "gate_id: " + gateID + "\ndata_dir: ./data-" + gateID + "\npolicies: policies.yaml\n" +
			"store:\n  backend: etcd\n  endpoints: [" + srv.Endpoints[0] + "]\n  prefix: /keyturn/site-a/\n  encryption_key_file: secrets.key\n"
		cfg, err := config.Parse(filepath.Join(dir, "keyturn-"+gateID+".yaml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return Open(cfg, testLogger(t))
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
