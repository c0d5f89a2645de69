package bastion

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/demotarget"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// certFor signs a user certificate for key with ca; edit adjusts it
// before signing. By default it is valid from an hour before now to an
// hour after, for principal "alice", with permit-pty.
func certFor(t testing.TB, ca gossh.Signer, key gossh.PublicKey, now time.Time, edit func(*gossh.Certificate)) *gossh.Certificate {
	t.Helper()
	c := &gossh.Certificate{
		Key: key, Serial: 7, CertType: gossh.UserCert, KeyId: "alice@laptop",
		ValidPrincipals: []string{"alice"},
		ValidAfter:      uint64(now.Add(-time.Hour).Unix()),
		ValidBefore:     uint64(now.Add(time.Hour).Unix()),
		Permissions:     gossh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if edit != nil {
		edit(c)
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

type certFixture struct {
	ca, otherCA, user gossh.Signer
	carol             gossh.Signer // a plain key user
	dir               string
	cfg               *config.Config
	now               time.Time
	auth              *authenticator
}

func newCertFixture(t testing.TB) *certFixture {
	t.Helper()
	f := &certFixture{ca: testSigner(t), otherCA: testSigner(t), user: testSigner(t), carol: testSigner(t), dir: t.TempDir(),
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.writeRevoked(t, nil)
	cfg, err := config.Parse(filepath.Join(f.dir, "keyturn.yaml"), []byte(`
user_ca_keys: ["`+AuthorizedKey(f.ca.PublicKey(), "ca")+`"]
revoked_keys: revoked
users:
  - name: alice
    roles: [admin]
    targets: ["*"]
  - name: bob
    roles: [admin]
    principals: [robert]
  - name: carol
    roles: [approver]
    keys: ["`+AuthorizedKey(f.carol.PublicKey(), "")+`"]
targets:
  - name: t1
    address: 127.0.0.1:22
    user: demo
    host_keys: ["`+AuthorizedKey(f.ca.PublicKey(), "")+`"]
`))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.auth = newAuthenticator(cfg, testLogger(t), func() time.Time { return f.now })
	return f
}

func (f *certFixture) writeRevoked(t testing.TB, data []byte) {
	t.Helper()
	// A fresh file each time: the reload notices the inode, whatever the
	// file system's timestamp granularity.
	tmp := filepath.Join(f.dir, "revoked.new")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, "revoked")); err != nil {
		t.Fatal(err)
	}
}

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}

// krlSerials is an OpenSSH KRL revoking serials of ca's certificates (the
// layout ssh-keygen -k writes; the krl package checks it against real
// ssh-keygen output).
func krlSerials(ca gossh.PublicKey, serials ...uint64) []byte {
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	var list []byte
	for _, s := range serials {
		list = binary.BigEndian.AppendUint64(list, s)
	}
	sec := append(str(ca.Marshal()), str(nil)...)
	sec = append(append(sec, 0x20), str(list)...)
	out := []byte("SSHKRL\n\x00")
	out = binary.BigEndian.AppendUint32(out, 1)
	out = append(out, make([]byte, 24)...) // version, date, flags
	out = append(out, str(nil)...)
	out = append(out, str(nil)...)
	return append(append(out, 1), str(sec)...)
}

// TestCertificateRules: each rule a certificate must pass, with one
// certificate that breaks it. A plain key goes on working beside them.
func TestCertificateRules(t *testing.T) {
	f := newCertFixture(t)
	hostCA := func(c *gossh.Certificate) { c.CertType = gossh.HostCert }
	for _, tc := range []struct {
		name   string
		login  string
		edit   func(*gossh.Certificate) // of the certificate f.ca signs for f.user
		key    func() gossh.PublicKey   // what logs in, if not that certificate
		remote net.Addr
		rule   string // "" for accepted
	}{
		{name: "valid"},
		{name: "valid for a target login", login: "alice+t1"},
		{name: "never expires", edit: func(c *gossh.Certificate) { c.ValidBefore = gossh.CertTimeInfinity }},
		{name: "expired", rule: "expired", edit: func(c *gossh.Certificate) { c.ValidBefore = uint64(f.now.Add(-time.Minute).Unix()) }},
		{name: "expired within the skew", edit: func(c *gossh.Certificate) {
			c.ValidBefore = uint64(f.now.Add(-config.CertClockSkew + time.Second).Unix())
		}},
		{name: "expired just past the skew", rule: "expired", edit: func(c *gossh.Certificate) {
			c.ValidBefore = uint64(f.now.Add(-config.CertClockSkew).Unix())
		}},
		{name: "not yet valid", rule: "not-yet-valid", edit: func(c *gossh.Certificate) { c.ValidAfter = uint64(f.now.Add(5 * time.Minute).Unix()) }},
		{name: "not yet valid within the skew", edit: func(c *gossh.Certificate) { c.ValidAfter = uint64(f.now.Add(10 * time.Second).Unix()) }},
		{name: "wrong CA", rule: "untrusted-ca", key: func() gossh.PublicKey { return certFor(t, f.otherCA, f.user.PublicKey(), f.now, nil) }},
		{name: "host certificate as a user certificate", rule: "not-a-user-certificate", edit: hostCA},
		{name: "principal unknown", rule: "principal-not-user", edit: func(c *gossh.Certificate) { c.ValidPrincipals = []string{"mallory"} }},
		{name: "another user's principal", rule: "principal-not-user", edit: func(c *gossh.Certificate) { c.ValidPrincipals = []string{"robert"} }},
		{name: "a user's name that is not their principal", login: "bob", rule: "principal-not-user", edit: func(c *gossh.Certificate) { c.ValidPrincipals = []string{"bob"} }},
		{name: "a user's own principal", login: "bob", edit: func(c *gossh.Certificate) { c.ValidPrincipals = []string{"robert"} }},
		{name: "no principals (valid for anyone to x/crypto)", rule: "no-principals", edit: func(c *gossh.Certificate) { c.ValidPrincipals = nil }},
		{name: "unknown user", login: "mallory", rule: "unknown-user"},
		{name: "unknown critical option", rule: "critical-option", edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"verify-required": ""}
		}},
		{name: "force-command", rule: "force-command", edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"force-command": "uptime"}
		}},
		{name: "source-address outside its range", rule: "source-address", edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8,192.168.1.7"}
		}},
		{name: "source-address inside its range", edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8,127.0.0.0/8"}
		}},
		{name: "source-address, IPv6 client", rule: "source-address", remote: &net.TCPAddr{IP: net.IPv6loopback, Port: 1}, edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "127.0.0.1"}
		}},
		{name: "source-address malformed", rule: "source-address", edit: func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "everywhere"}
		}},
		{name: "tampered after signing", rule: "bad-certificate", key: func() gossh.PublicKey {
			c := certFor(t, f.ca, f.user.PublicKey(), f.now, nil)
			c.ValidBefore = gossh.CertTimeInfinity // the CA said an hour
			return c
		}},
		{name: "plain registered key", login: "carol", key: func() gossh.PublicKey { return f.carol.PublicKey() }},
		{name: "plain key of nobody", rule: "key-not-registered", key: func() gossh.PublicKey { return f.user.PublicKey() }},
		{name: "a registered key's certificate for another user", login: "carol", rule: "principal-not-user", key: func() gossh.PublicKey {
			return certFor(t, f.ca, f.carol.PublicKey(), f.now, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			login := tc.login
			if login == "" {
				login = "alice"
			}
			remote := tc.remote
			if remote == nil {
				remote = loopback
			}
			var key gossh.PublicKey
			if tc.key != nil {
				key = tc.key()
			} else {
				key = certFor(t, f.ca, f.user.PublicKey(), f.now, tc.edit)
			}
			info, r := f.auth.check(login, remote, key)
			switch {
			case tc.rule == "" && r != nil:
				t.Fatalf("refused (%s): %s", r.Rule, r.Detail)
			case tc.rule != "" && r == nil:
				t.Fatalf("accepted; want refused by rule %s", tc.rule)
			case tc.rule != "" && r.Rule != tc.rule:
				t.Fatalf("refused by rule %s (%s); want %s", r.Rule, r.Detail, tc.rule)
			}
			if _, isCert := key.(*gossh.Certificate); r == nil && isCert != (info != nil) {
				t.Errorf("certificate info %+v for a certificate=%v login", info, isCert)
			}
		})
	}
}

func TestCertificateInfo(t *testing.T) {
	f := newCertFixture(t)
	cert := certFor(t, f.ca, f.user.PublicKey(), f.now, func(c *gossh.Certificate) { c.Serial = 99; c.KeyId = "alice-2026" })
	info, r := f.auth.check("alice", loopback, cert)
	if r != nil {
		t.Fatal(r)
	}
	if info.KeyID != "alice-2026" || info.Serial != 99 || info.CA != gossh.FingerprintSHA256(f.ca.PublicKey()) ||
		info.Principal != "alice" || !info.ValidAfter.Equal(f.now.Add(-time.Hour)) || !info.ValidBefore.Equal(f.now.Add(time.Hour)) ||
		!info.Permits("permit-pty") || info.Permits("permit-port-forwarding") {
		t.Errorf("certificate info = %+v", info)
	}
	for _, want := range []string{`"alice-2026"`, "serial 99", gossh.FingerprintSHA256(f.ca.PublicKey()), "2026-03-01T13:00:00Z"} {
		if !strings.Contains(info.String(), want) {
			t.Errorf("%q lacks %q", info.String(), want)
		}
	}
}

// TestRevocation: revoked by serial (KRL) and by key (plain list), the
// list re-read when it changes, and every key refused while it cannot be
// read.
func TestRevocation(t *testing.T) {
	f := newCertFixture(t)
	cert7 := certFor(t, f.ca, f.user.PublicKey(), f.now, nil)
	cert8 := certFor(t, f.ca, testSigner(t).PublicKey(), f.now, func(c *gossh.Certificate) { c.Serial = 8 })
	accepted := func(key gossh.PublicKey, login string) (bool, string) {
		_, r := f.auth.check(login, loopback, key)
		if r != nil {
			return false, r.Rule
		}
		return true, ""
	}
	if ok, rule := accepted(cert7, "alice"); !ok {
		t.Fatalf("serial 7 refused (%s) before any revocation", rule)
	}

	f.writeRevoked(t, krlSerials(f.ca.PublicKey(), 7))
	if ok, rule := accepted(cert7, "alice"); ok || rule != "revoked" {
		t.Errorf("serial 7 after its KRL revocation: accepted=%v rule=%s", ok, rule)
	}
	if ok, rule := accepted(cert8, "alice"); !ok {
		t.Errorf("serial 8 refused (%s); only 7 is revoked", rule)
	}
	// The same serial from another CA's section is not revoked.
	f.writeRevoked(t, krlSerials(f.otherCA.PublicKey(), 7))
	if ok, rule := accepted(cert7, "alice"); !ok {
		t.Errorf("serial 7 refused (%s) by another CA's revocation", rule)
	}

	// Revoked by key, in plain list form: the certificate of that key
	// and the key itself.
	f.writeRevoked(t, []byte("# keys that left\n"+AuthorizedKey(f.user.PublicKey(), "")+"\n"+AuthorizedKey(f.carol.PublicKey(), "")+"\n"))
	if ok, rule := accepted(cert7, "alice"); ok || rule != "revoked" {
		t.Errorf("certificate of a revoked key: accepted=%v rule=%s", ok, rule)
	}
	if ok, rule := accepted(f.carol.PublicKey(), "carol"); ok || rule != "revoked" {
		t.Errorf("revoked plain key: accepted=%v rule=%s", ok, rule)
	}
	if ok, rule := accepted(cert8, "alice"); !ok {
		t.Errorf("unrevoked certificate refused (%s)", rule)
	}

	// An unreadable or broken list refuses everyone, plain keys too.
	f.writeRevoked(t, []byte("SSHKRL\n\x00garbage"))
	if ok, rule := accepted(cert8, "alice"); ok || rule != "revoked-keys-unreadable" {
		t.Errorf("with a broken list: accepted=%v rule=%s", ok, rule)
	}
	if ok, _ := accepted(f.carol.PublicKey(), "carol"); ok {
		t.Errorf("plain key accepted while the list is broken")
	}
	os.Remove(filepath.Join(f.dir, "revoked"))
	if ok, rule := accepted(cert8, "alice"); ok || rule != "revoked-keys-unreadable" {
		t.Errorf("with the list gone: accepted=%v rule=%s", ok, rule)
	}
	f.writeRevoked(t, nil)
	if ok, rule := accepted(cert7, "alice"); !ok {
		t.Errorf("after the list is emptied: refused (%s)", rule)
	}
}

// TestVerifiedPermissionsRecordCertificate: the identity a session gets
// names the certificate, and a forged record is not an identity.
func TestVerifiedPermissionsRecordCertificate(t *testing.T) {
	f := newCertFixture(t)
	cert := certFor(t, f.ca, f.user.PublicKey(), f.now, nil)
	perms, err := f.auth.verifiedPermissions(fakeConn{user: "alice+t1"}, cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	info, ok := certOf(perms)
	if !ok || info == nil || info.Serial != 7 {
		t.Fatalf("certOf = %+v, %v", info, ok)
	}
	if perms.Extensions[extFingerprint] != gossh.FingerprintSHA256(f.user.PublicKey()) {
		t.Errorf("fingerprint %s is not the certified key's", perms.Extensions[extFingerprint])
	}
	perms.Extensions[extCert] = `{"key_id":"x","surprise":1}`
	if _, ok := certOf(perms); ok {
		t.Error("an unreadable certificate record was accepted")
	}
	// Between the client's query and its signature the key may have
	// been revoked: the verified callback checks again.
	f.writeRevoked(t, krlSerials(f.ca.PublicKey(), 7))
	if _, err := f.auth.verifiedPermissions(fakeConn{user: "alice"}, cert, nil, ""); err == nil {
		t.Error("verifiedPermissions accepted a certificate revoked since the query")
	}
}

type fakeConn struct {
	gossh.ConnMetadata
	user string
}

func (c fakeConn) User() string         { return c.user }
func (c fakeConn) RemoteAddr() net.Addr { return loopback }

// certGate is a gate whose alice logs in with certificates only.
type certGate struct {
	*testGate
	ca      gossh.Signer
	revoked string // the revoked_keys file, empty at the start
}

func startCertGate(t *testing.T) *certGate {
	t.Helper()
	log := testLogger(t)
	gateClient, targetHost, ca := testSigner(t), testSigner(t), testSigner(t)
	target := demotarget.New(targetHost, gateClient.PublicKey(), log)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go target.Serve(tl)
	t.Cleanup(func() { target.Close() })
	carol := testSigner(t)
	revoked := writeTemp(t, "revoked_keys", "")
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "keyturn.yaml"), []byte(`
user_ca_keys: ["`+AuthorizedKey(ca.PublicKey(), "")+`"]
revoked_keys: `+revoked+`
users:
  - name: alice
    roles: [admin]
    targets: ["*"]
  - name: carol
    roles: [approver]
    principals: [carol@example.com]
    keys: ["`+AuthorizedKey(carol.PublicKey(), "")+`"]
targets:
  - name: t1
    address: `+tl.Addr().String()+`
    user: demo
    host_keys: ["`+AuthorizedKey(targetHost.PublicKey(), "")+`"]
`))
	if err != nil {
		t.Fatal(err)
	}
	pol := mustPolicy(t, "version: 1\ndefaults:\n  required_approvals: 1\nterminal_allow:\n  - command: [echo]\nactions:\n  - name: restart_service\n    service: app\n    match:\n      - command: [keyturn-test-privileged]\n")
	tg := serveGate(t, cfg, gateClient, pol, log, "", nil)
	tg.carol = carol
	return &certGate{testGate: tg, ca: ca, revoked: revoked}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (g *certGate) certSigner(t *testing.T, edit func(*gossh.Certificate)) gossh.Signer {
	t.Helper()
	key := testSigner(t)
	s, err := gossh.NewCertSigner(certFor(t, g.ca, key.PublicKey(), time.Now(), edit), key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCertificateSessions: through a real gate, a certificate logs in,
// its identity shows and is audited, a certificate without permit-pty
// gets no terminal, and a refused certificate does not log in at all.
func TestCertificateSessions(t *testing.T) {
	g := startCertGate(t)
	alice := g.certSigner(t, func(c *gossh.Certificate) { c.Serial = 4242; c.KeyId = "alice-yubikey" })
	out, errOut, status := g.runPTY(t, "alice", alice, "whoami", false)
	if status != 0 || !strings.Contains(out, `certificate: certificate "alice-yubikey" serial 4242`) {
		t.Errorf("whoami = %q %q %d; want the certificate named", out, errOut, status)
	}
	// (A terminal in the gate's own namespace: the demo target has a
	// data race of its own in its PTY handling.)
	out, errOut, status = g.runPTY(t, "alice", alice, "whoami", true)
	if status != 0 || !strings.Contains(out, "user: alice") {
		t.Errorf("with permit-pty and a terminal: %q %q %d", out, errOut, status)
	}
	out, errOut, status = g.runPTY(t, "alice+t1", alice, "echo hi", false)
	if status != 0 || !strings.Contains(out, "hi") {
		t.Errorf("a command on the target: %q %q %d", out, errOut, status)
	}

	noPTY := g.certSigner(t, func(c *gossh.Certificate) { c.Serial = 5; c.Permissions.Extensions = map[string]string{} })
	out, errOut, status = g.runPTY(t, "alice+t1", noPTY, "echo hi", true)
	if status != exitcode.Refused || strings.Contains(out, "hi") || !strings.Contains(errOut, "permit-pty") {
		t.Errorf("no permit-pty, terminal asked: %q %q %d; want refused", out, errOut, status)
	}
	out, _, status = g.runPTY(t, "alice+t1", noPTY, "echo hi", false)
	if status != 0 || !strings.Contains(out, "hi") {
		t.Errorf("no permit-pty, no terminal: %q %d; want it to run", out, status)
	}

	// The audit trail names the certificate of each session's decision.
	var seen bool
	for e, err := range g.mpa.AuditEvents(context.Background(), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != "decision" {
			continue
		}
		var data struct {
			Cert *CertInfo `json:"cert"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.Cert == nil || data.Cert.CA != gossh.FingerprintSHA256(g.ca.PublicKey()) || data.Cert.ValidAfter.IsZero() || data.Cert.ValidBefore.IsZero() {
			t.Errorf("decision event without the certificate: %s", e.Data)
		}
		seen = seen || data.Cert.Serial == 4242 && data.Cert.KeyID == "alice-yubikey"
	}
	if !seen {
		t.Error("no decision event recorded serial 4242")
	}

	expired := g.certSigner(t, func(c *gossh.Certificate) { c.ValidBefore = uint64(time.Now().Add(-time.Hour).Unix()) })
	_, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(expired)},
		HostKeyCallback: gossh.FixedHostKey(g.hostKey)})
	if err == nil {
		t.Error("an expired certificate logged in")
	}
}

// TestCertificateRequesterShown: a held request records the requester's
// certificate; an approver who logged in with a certificate still needs
// a TOTP code for the vote.
func TestCertificateRequesterShown(t *testing.T) {
	g := startCertGate(t)
	a := advEnableMPA(t, g.testGate)
	alice := g.certSigner(t, func(c *gossh.Certificate) { c.Serial = 31; c.KeyId = "alice-ci" })
	done := make(chan string, 1)
	go func() {
		// Not runPTY: a test may not fail from another goroutine.
		c, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{User: "alice+t1", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice)},
			HostKeyCallback: gossh.FixedHostKey(g.hostKey)})
		if err != nil {
			done <- "dial: " + err.Error()
			return
		}
		defer c.Close()
		s, err := c.NewSession()
		if err != nil {
			done <- "session: " + err.Error()
			return
		}
		defer s.Close()
		out, _ := s.Output("keyturn-test-privileged; echo released")
		done <- string(out)
	}()
	var req mpa.Request
	for deadline := time.Now().Add(10 * time.Second); ; {
		rs, err := g.mpa.List(context.Background(), mpa.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			req = rs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request was created within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(req.RequesterCert, `"alice-ci" serial 31`) {
		t.Errorf("RequesterCert = %q", req.RequesterCert)
	}
	carolCert := g.certSigner(t, func(c *gossh.Certificate) { c.ValidPrincipals = []string{"carol@example.com"} })
	out, errOut, status := g.runPTY(t, "carol", carolCert, "mpa requests view "+req.ID, false)
	if status != 0 || !strings.Contains(out, "requester cert") || !strings.Contains(out, "alice-ci") {
		t.Errorf("view: %q %q %d; want the requester's certificate", out, errOut, status)
	}
	out, errOut, status = g.runPTY(t, "carol", carolCert, "mpa requests approve "+req.ID, false)
	if status == 0 {
		t.Errorf("a certificate approver voted without a TOTP code: %q %q", out, errOut)
	}
	a.approve(t, req.ID)
	select {
	case out := <-done:
		if !strings.Contains(out, "released") {
			t.Errorf("released command's output = %q", out)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held command did not finish within 20s of its approval")
	}
}

// FuzzCheckKey: whatever key or certificate a client sends, the check
// neither panics nor lets in a certificate that breaks a rule.
func FuzzCheckKey(f *testing.F) {
	fx := newCertFixture(f)
	fx.auth.log = slog.New(slog.DiscardHandler) // a refusal per input
	for _, edit := range []func(*gossh.Certificate){
		nil,
		func(c *gossh.Certificate) { c.CertType = gossh.HostCert },
		func(c *gossh.Certificate) { c.CriticalOptions = map[string]string{"source-address": "127.0.0.1/8,::1"} },
		func(c *gossh.Certificate) { c.ValidBefore = gossh.CertTimeInfinity; c.ValidAfter = 0 },
	} {
		f.Add(certFor(f, fx.ca, fx.user.PublicKey(), fx.now, edit).Marshal())
	}
	f.Add(fx.carol.PublicKey().Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := gossh.ParsePublicKey(data)
		if err != nil {
			return
		}
		info, r := fx.auth.check("alice", loopback, key)
		if r != nil {
			return
		}
		cert, ok := key.(*gossh.Certificate)
		if !ok {
			t.Fatalf("a plain key logged in as alice, who has none")
		}
		if info == nil || cert.CertType != gossh.UserCert || !fx.cfg.IsUserCA(cert.SignatureKey) {
			t.Fatalf("accepted %+v (info %+v)", cert, info)
		}
		now := uint64(fx.now.Unix())
		skew := uint64(config.CertClockSkew / time.Second)
		if cert.ValidAfter > now+skew || (cert.ValidBefore != gossh.CertTimeInfinity && cert.ValidBefore+skew <= now) {
			t.Fatalf("accepted outside its window: %d..%d at %d", cert.ValidAfter, cert.ValidBefore, now)
		}
	})
}

// TestRevokedMidConnection: one connection carries many sessions (ssh
// ControlMaster); a key revoked after the login opens no new session on
// it, certificate or plain key.
func TestRevokedMidConnection(t *testing.T) {
	g := startCertGate(t)
	alice := g.certSigner(t, func(c *gossh.Certificate) { c.Serial = 77 })
	dial := func(login string, key gossh.Signer) *gossh.Client {
		c, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
			HostKeyCallback: gossh.FixedHostKey(g.hostKey)})
		if err != nil {
			t.Fatalf("dial as %s: %v", login, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	session := func(c *gossh.Client, cmd string) (string, error) {
		s, err := c.NewSession()
		if err != nil {
			return "", err
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		return string(out), err
	}
	ac, cc := dial("alice+t1", alice), dial("carol", g.carol)
	if out, err := session(ac, "echo before"); err != nil || !strings.Contains(out, "before") {
		t.Fatalf("first session: %q %v", out, err)
	}
	if out, err := session(cc, "whoami"); err != nil || !strings.Contains(out, "user: carol") {
		t.Fatalf("carol's first session: %q %v", out, err)
	}
	list := string(krlSerials(g.ca.PublicKey(), 77))
	if err := os.WriteFile(g.revoked+".new", []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(g.revoked+".new", g.revoked); err != nil {
		t.Fatal(err)
	}
	out, err := session(ac, "echo after")
	if err == nil || strings.Contains(out, "after") || !strings.Contains(out, "certificate serial 77 is revoked") {
		t.Errorf("session after the certificate's revocation: %q %v; want refused", out, err)
	}
	if err := os.WriteFile(g.revoked, []byte(AuthorizedKey(g.carol.PublicKey(), "")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = session(cc, "whoami")
	if err == nil || strings.Contains(out, "user: carol") || !strings.Contains(out, "is revoked") {
		t.Errorf("carol's session after her key's revocation: %q %v; want refused", out, err)
	}
}

// BenchmarkCheckCertificate is the gate's cost of one certificate check
// (done at the login and at every session's start), with a revocation
// list to consult.
func BenchmarkCheckCertificate(b *testing.B) {
	f := newCertFixture(b)
	f.writeRevoked(b, krlSerials(f.ca.PublicKey(), 1, 2, 3))
	cert := certFor(b, f.ca, f.user.PublicKey(), f.now, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, r := f.auth.check("alice+t1", loopback, cert); r != nil {
			b.Fatal(r)
		}
	}
}
