package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreEtcd(t *testing.T) {
	good := `gate_id: gate-a
store:
  backend: etcd
  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
  prefix: /keyturn/site-a/
  encryption_key_file: secrets.key
  tls: {ca: ca.pem, cert: gate.pem, key: gate-key.pem}
`
	c, err := Parse(filepath.Join("conf", "keyturn.yaml"), []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.GateID != "gate-a" || c.Store.Backend != BackendEtcd || len(c.Store.Endpoints) != 2 ||
		c.Store.Prefix != "/keyturn/site-a/" || c.Store.TLS.CA != filepath.Join("conf", "ca.pem") {
		t.Fatalf("parsed %+v", c.Store)
	}
	c, err = Parse("k.yaml", []byte("store:\n  backend: etcd\n  endpoints: [http://127.0.0.1:2379]\n  encryption_key_file: k\ngate_id: g1\n"))
	if err != nil {
		t.Fatalf("loopback without TLS: %v", err)
	}
	if c.Store.Prefix != DefaultEtcdPrefix {
		t.Errorf("default prefix %q", c.Store.Prefix)
	}
	if c.Store.LeaseTTL != DefaultLeaseTTL {
		t.Errorf("default lease_ttl %v; want %v", c.Store.LeaseTTL.Std(), DefaultLeaseTTL.Std())
	}
	c, err = Parse("k.yaml", []byte("store:\n  backend: etcd\n  endpoints: [http://127.0.0.1:2379]\n  encryption_key_file: k\n  lease_ttl: 3s\ngate_id: g1\n"))
	if err != nil || c.Store.LeaseTTL.Std() != 3*time.Second {
		t.Fatalf("lease_ttl 3s: %v, %v", c.Store.LeaseTTL.Std(), err)
	}
	if c, err := Parse("k.yaml", []byte("listen: 127.0.0.1:2222\n")); err != nil || c.Store.Backend != BackendBadger {
		t.Fatalf("default backend = %q, %v; want badger", c.Store.Backend, err)
	}
}

func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown backend", "store:\n  backend: redis\n",
			`k.yaml:2:12: store.backend: want badger or etcd, got "redis"`},
		{"etcd keys on badger", "store:\n  endpoints: [http://127.0.0.1:2379]\n",
			`k.yaml:2:14: store.endpoints: only for backend etcd (backend is badger)`},
		{"no gate_id", "store:\n  backend: etcd\n  endpoints: [http://127.0.0.1:2379]\n  encryption_key_file: k\n",
			`k.yaml:1:1: gate_id: required with store.backend etcd (one live gate per gate_id)`},
		{"no key", "gate_id: g\nstore:\n  backend: etcd\n  endpoints: [http://127.0.0.1:2379]\n",
			`k.yaml:3:3: store.encryption_key_file: required with backend etcd (TOTP secrets are sealed by the gate; etcd has no encryption at rest)`},
		{"plaintext beyond loopback", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://10.0.0.1:2379]\n",
			`k.yaml:3:3: store.tls: required for etcd endpoints beyond loopback (ca, cert, key)`},
		{"partial tls", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [https://10.0.0.1:2379]\n  tls: {ca: ca.pem}\n",
			`k.yaml:6:8: store.tls: set all of ca, cert and key (mutual TLS)`},
		{"http with tls", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://10.0.0.1:2379]\n  tls: {ca: a, cert: b, key: c}\n",
			`k.yaml:5:15: store.endpoints[0]: tls is configured; want https://, got "http://10.0.0.1:2379"`},
		{"bad endpoint", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [10.0.0.1:2379]\n",
			`k.yaml:5:15: store.endpoints[0]: want http://host:port or https://host:port, got "10.0.0.1:2379"`},
		{"bad prefix", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://127.0.0.1:2379]\n  prefix: keyturn\n",
			`k.yaml:6:11: store.prefix: want a key prefix starting and ending with /, got "keyturn"`},
		{"lease_ttl too short", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://127.0.0.1:2379]\n  lease_ttl: 1s\n",
			`k.yaml:6:14: store.lease_ttl: want whole seconds from 2s to 5m0s (etcd leases count seconds), got 1s`},
		{"lease_ttl too long", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://127.0.0.1:2379]\n  lease_ttl: 1h\n",
			`k.yaml:6:14: store.lease_ttl: want whole seconds from 2s to 5m0s (etcd leases count seconds), got 1h0m0s`},
		{"lease_ttl not whole seconds", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://127.0.0.1:2379]\n  lease_ttl: 2500ms\n",
			`k.yaml:6:14: store.lease_ttl: want whole seconds from 2s to 5m0s (etcd leases count seconds), got 2.5s`},
		{"lease_ttl not a duration", "gate_id: g\nstore:\n  backend: etcd\n  encryption_key_file: k\n  endpoints: [http://127.0.0.1:2379]\n  lease_ttl: ten\n",
			`k.yaml:6:14: `},
		{"lease_ttl on badger", "store:\n  lease_ttl: 10s\n",
			`k.yaml:2:14: store.lease_ttl: only for backend etcd (backend is badger)`},
		{"bad gate_id", "gate_id: a+b\n", `k.yaml:1:10: gate_id: want letters, digits, '.', '_' or '-', got "a+b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant a line:\n%s", err, tc.want)
			}
		})
	}
}
