package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// checkStore checks the store section and gate_id. With etcd it fails
// closed: no gate_id, no key to seal TOTP secrets, or plaintext to a
// non-loopback endpoint is refused rather than run.
func (v *validator) checkStore(c *Config) {
	if c.GateID != "" && !validName.MatchString(c.GateID) {
		v.errorf(v.at("gate_id"), "gate_id: want letters, digits, '.', '_' or '-', got %q", c.GateID)
	}
	s := &c.Store
	tlsSet := s.TLS.CA != "" || s.TLS.Cert != "" || s.TLS.Key != ""
	switch s.Backend {
	case BackendBadger:
		for _, f := range []struct {
			set  bool
			name string
		}{{len(s.Endpoints) > 0, "endpoints"}, {s.Prefix != "", "prefix"}, {tlsSet, "tls"}, {s.LeaseTTL != 0, "lease_ttl"}} {
			if f.set {
				v.errorf(v.at("store."+f.name), "store.%s: only for backend etcd (backend is badger)", f.name)
			}
		}
		return
	case BackendEtcd:
	default:
		v.errorf(v.at("store.backend"), "store.backend: want badger or etcd, got %q", s.Backend)
		return
	}
	if c.GateID == "" {
		v.errorf(v.at("gate_id"), "gate_id: required with store.backend etcd (one live gate per gate_id)")
	}
	if s.EncryptionKeyFile == "" {
		v.errorf(v.at("store.encryption_key_file"), "store.encryption_key_file: required with backend etcd (TOTP secrets are sealed by the gate; etcd has no encryption at rest)")
	}
	if !strings.HasPrefix(s.Prefix, "/") || !strings.HasSuffix(s.Prefix, "/") {
		v.errorf(v.at("store.prefix"), "store.prefix: want a key prefix starting and ending with /, got %q", s.Prefix)
	}
	if t := s.LeaseTTL; t < MinLeaseTTL || t > MaxLeaseTTL || t.Std()%time.Second != 0 {
		v.errorf(v.at("store.lease_ttl"), "store.lease_ttl: want whole seconds from %s to %s (etcd leases count seconds), got %s",
			MinLeaseTTL.Std(), MaxLeaseTTL.Std(), t.Std())
	}
	if len(s.Endpoints) == 0 {
		v.errorf(v.at("store.endpoints"), "store.endpoints: at least one etcd client URL is required")
	}
	loopback := true
	for i, e := range s.Endpoints {
		p := fmt.Sprintf("store.endpoints[%d]", i)
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(v.at(p), "%s: want http://host:port or https://host:port, got %q", p, e)
			continue
		}
		if tlsSet && u.Scheme != "https" {
			v.errorf(v.at(p), "%s: tls is configured; want https://, got %q", p, e)
		}
		if !tlsSet && u.Scheme == "https" {
			v.errorf(v.at(p), "%s: https needs store.tls (ca, cert, key)", p)
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			loopback = false
		}
	}
	switch {
	case tlsSet && (s.TLS.CA == "" || s.TLS.Cert == "" || s.TLS.Key == ""):
		v.errorf(v.at("store.tls"), "store.tls: set all of ca, cert and key (mutual TLS)")
	case !tlsSet && !loopback && len(s.Endpoints) > 0:
		v.errorf(v.at("store.tls"), "store.tls: required for etcd endpoints beyond loopback (ca, cert, key)")
	}
}
