package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/server"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// `keyturn audit verify --config` reads the etcd store the config names,
// and names the first event edited behind the gates' backs.
func TestAuditVerifyEtcd(t *testing.T) {
	srv, dir, cfgPath, st := etcdGate(t, "  prefix: /site-a/\n")
	svc := mpa.New(st, mpa.Options{Logger: slog.New(slog.DiscardHandler)})
	for i := range 4 {
		if _, err := svc.Record(context.Background(), audit.Event{Kind: "test", Actor: "alice", Data: audit.Data(map[string]int{"i": i})}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	r := runTool(auditMain, "", "verify", "--config", cfgPath)
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain ok: chain gate-a: 4 events") {
		t.Fatalf("verify --config: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := "/site-a/aud/gate-a/0000000000000002"
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw event 2: %v, %v", resp, err)
	}
	edited := strings.Replace(string(resp.Kvs[0].Value), `"actor":"alice"`, `"actor":"mallory"`, 1)
	if _, err := cli.Put(ctx, key, edited); err != nil {
		t.Fatal(err)
	}
	r = runTool(auditMain, "", "verify", "--config", cfgPath)
	if r.code != 1 || !strings.Contains(r.stdout, "first bad event is chain gate-a seq 2") {
		t.Fatalf("verify --config after an edit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runTool(auditMain, "", "verify", "--config", cfgPath, "--data-dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "--config goes alone") {
		t.Fatalf("--config with --data-dir: exit %d\n%s", r.code, r.stderr)
	}
}

// Three gates, three chains anchored together: `keyturn audit verify`
// checks them all, on etcd (--config) and in an export (--file), and
// names the chain when one of them is cut short or rewritten behind the
// gates' backs, though that chain alone still verifies.
func TestAuditVerifyEtcdChains(t *testing.T) {
	for _, tamper := range []string{"truncate", "rewrite", "export without a chain"} {
		t.Run(tamper, func(t *testing.T) {
			srv, dir, cfgPath, st := etcdGate(t, "  prefix: /site-a/\n")
			stores := []mpa.Store{st}
			for _, g := range []string{"gate-b", "gate-c"} {
				o, err := etcdstore.Open(etcdstore.Options{Endpoints: srv.Endpoints, Prefix: "/site-a/", Chain: g,
					SecretKey: []byte("0123456789abcdef0123456789abcdef"), Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				stores = append(stores, o)
			}
			ctx := context.Background()
			var svcs []*mpa.Service
			for _, s := range stores {
				svcs = append(svcs, mpa.New(s, mpa.Options{Logger: slog.New(slog.DiscardHandler)}))
			}
			for i := range 12 {
				if _, err := svcs[i%3].Record(ctx, audit.Event{Kind: "test", Actor: "alice", Data: audit.Data(map[string]int{"i": i})}); err != nil {
					t.Fatal(err)
				}
				if i%6 == 5 {
					for _, svc := range svcs {
						if _, err := svc.Anchor(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			r := runTool(auditMain, "", "verify", "--config", cfgPath)
			if r.code != 0 || strings.Count(r.stdout, "audit chain ok: chain gate-") != 3 {
				t.Fatalf("verify --config: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			export := filepath.Join(dir, "export.jsonl")
			var buf strings.Builder
			if err := audit.WriteJSONL(&buf, svcs[0].AuditEvents(ctx, audit.Filter{})); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(export, []byte(buf.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			r = runTool(auditMain, "", "verify", "--file", export)
			if r.code != 0 || strings.Count(r.stdout, "audit chain ok: chain gate-") != 3 {
				t.Fatalf("verify --file: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}

			cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			switch tamper {
			case "truncate": // gate-b's chain cut after event 2, its head record to match
				for seq := 3; seq <= 8; seq++ {
					if _, err := cli.Delete(tctx, fmt.Sprintf("/site-a/aud/gate-b/%016x", seq)); err != nil {
						t.Fatal(err)
					}
				}
				resp, err := cli.Get(tctx, "/site-a/aud/gate-b/0000000000000002")
				if err != nil || len(resp.Kvs) != 1 {
					t.Fatalf("raw event 2: %v, %v", resp, err)
				}
				var e audit.Event
				if err := json.Unmarshal(resp.Kvs[0].Value, &e); err != nil {
					t.Fatal(err)
				}
				if _, err := cli.Put(tctx, "/site-a/meta/audit-heads/gate-b", string(audit.Data(audit.Head{Seq: e.Seq, Hash: e.Hash}))); err != nil {
					t.Fatal(err)
				}
				r = runTool(auditMain, "", "verify", "--config", cfgPath)
				if r.code != 1 || !strings.Contains(r.stdout, "first bad event is chain gate-b seq 3") || !strings.Contains(r.stdout, "truncated") {
					t.Fatalf("verify --config after a cut: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
			case "rewrite": // gate-c's chain re-sealed from event 1 with another actor
				resp, err := cli.Get(tctx, "/site-a/aud/gate-c/", clientv3.WithPrefix())
				if err != nil {
					t.Fatal(err)
				}
				var head audit.Head
				for _, kv := range resp.Kvs {
					var e audit.Event
					if err := json.Unmarshal(kv.Value, &e); err != nil {
						t.Fatal(err)
					}
					if e.Seq == 1 {
						e.Actor = "mallory"
					}
					if e, err = audit.Seal(head, e); err != nil {
						t.Fatal(err)
					}
					head = audit.Head{Seq: e.Seq, Hash: e.Hash}
					if _, err := cli.Put(tctx, string(kv.Key), string(audit.Data(e))); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := cli.Put(tctx, "/site-a/meta/audit-heads/gate-c", string(audit.Data(head))); err != nil {
					t.Fatal(err)
				}
				r = runTool(auditMain, "", "verify", "--config", cfgPath)
				if r.code != 1 || !strings.Contains(r.stdout, "chain gate-c") || !strings.Contains(r.stdout, "anchor mismatch") {
					t.Fatalf("verify --config after a rewrite: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
			case "export without a chain":
				var kept []string
				for _, l := range strings.SplitAfter(buf.String(), "\n") {
					if !strings.Contains(l, `"chain":"gate-a"`) {
						kept = append(kept, l)
					}
				}
				if err := os.WriteFile(export, []byte(strings.Join(kept, "")), 0o600); err != nil {
					t.Fatal(err)
				}
				r = runTool(auditMain, "", "verify", "--file", export)
				if r.code != 1 || !strings.Contains(r.stdout, "chain gate-a") || !strings.Contains(r.stdout, "truncated") {
					t.Fatalf("verify --file without gate-a's chain: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}

// Break-glass on etcd refuses while any gate is live, and works once all
// have left.
func TestBreakglassEtcd(t *testing.T) {
	_, _, cfgPath, st := etcdGate(t, "")
	defer st.Close()
	clock := mpatest.NewClock(time.Now().UTC().Truncate(time.Second))
	svc := mpa.New(st, mpa.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	for _, u := range []string{"bob", "carol", "dave"} {
		if u == "dave" {
			if _, err := svc.SetEnabled(ctx, "bob", true); err != nil {
				t.Fatal(err)
			}
		}
		reg, err := svc.InitiateRegistration(ctx, u, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CompleteRegistration(ctx, u, mpatest.Oathtool(t, reg.Secret, clock.Now())); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
	}
	m, err := st.Join(ctx, "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	r := runTool(breakglassMain, "", "register-approver", "--config", cfgPath, "dave")
	if r.code != 1 || !strings.Contains(r.stderr, "gates are live") || !strings.Contains(r.stderr, "gate-a") {
		t.Fatalf("break-glass with gate-a live: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	m.Close()
	r = runTool(breakglassMain, "", "register-approver", "--config", cfgPath, "dave")
	if r.code != 0 || !strings.Contains(r.stdout, "dave is now a registered approver") {
		t.Fatalf("break-glass with no gate live: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// etcdGate starts an etcd server for the test and writes a gate config
// for it in a new directory, with extra appended to its store block, then
// opens the store that config names. The server stops with the test.
func etcdGate(t *testing.T, extra string) (srv *etcdtest.Server, dir, cfgPath string, st server.ClosableStore) {
	t.Helper()
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secrets.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "keyturn.yaml")
	text := "gate_id: gate-a\nstore:\n  backend: etcd\n  endpoints: [" + srv.Endpoints[0] + "]\n" + extra + "  encryption_key_file: secrets.key\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err = server.OpenStore(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return srv, dir, cfgPath, st
}
