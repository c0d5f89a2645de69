package config

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

func newPub(t *testing.T) (gossh.PublicKey, string) {
	t.Helper()
	key := sshtest.Signer(t).PublicKey()
	return key, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
}

const certTargets = `
targets:
  - name: web-1
    address: 127.0.0.1:22
    user: root
    host_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]
`

func TestUserCAs(t *testing.T) {
	dir := t.TempDir()
	ca1, ca1Line := newPub(t)
	ca2, ca2Line := newPub(t)
	other, _ := newPub(t)
	if err := os.WriteFile(filepath.Join(dir, "cas"), []byte("# site CA\n"+ca2Line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "revoked"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "keyturn.yaml"), []byte(`
user_ca_keys: ["`+ca1Line+`"]
user_ca_keys_file: cas
revoked_keys: revoked
users:
  - name: alice
    roles: [admin]
  - name: bob
    roles: [approver]
    principals: [bob, robert]
`+certTargets))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !c.IsUserCA(ca1) || !c.IsUserCA(ca2) || c.IsUserCA(other) {
		t.Errorf("IsUserCA: want both configured CAs and no other key")
	}
	if got := len(c.UserCAs()); got != 2 {
		t.Errorf("UserCAs: %d keys, want 2", got)
	}
	if c.RevokedKeys != filepath.Join(dir, "revoked") {
		t.Errorf("RevokedKeys = %q, not resolved against the config's directory", c.RevokedKeys)
	}
	alice, _ := c.User("alice")
	bob, _ := c.User("bob")
	if !alice.HasPrincipal("alice") || alice.HasPrincipal("bob") {
		t.Errorf("alice's principals %v: want her name by default, and only it", alice.PrincipalNames())
	}
	if !bob.HasPrincipal("robert") || !bob.HasPrincipal("bob") || bob.HasPrincipal("alice") {
		t.Errorf("bob's principals %v", bob.PrincipalNames())
	}
}

func TestUserCAErrors(t *testing.T) {
	dir := t.TempDir()
	_, caLine := newPub(t)
	if err := os.WriteFile(filepath.Join(dir, "bad.krl"), []byte("SSHKRL\n\x00\x00\x00\x00\x09"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"principal of two users": {`user_ca_keys: ["` + caLine + `"]
users:
  - name: alice
    roles: [admin]
  - name: bob
    roles: [admin]
    principals: [alice]
`, `keyturn.yaml:7:18: user "bob": principals[0]: principal "alice" is also user alice's; a principal must map to exactly one user`},
		"principals without a CA": {`users:
  - name: alice
    roles: [admin]
    keys: ["` + caLine + `"]
    principals: [alice]
`, `keyturn.yaml:5:17: user "alice": principals: set user_ca_keys or user_ca_keys_file too`},
		"no keys and no CA": {`users:
  - name: alice
    roles: [admin]
`, `users[0]: user "alice" has no keys`},
		"CA line with options": {`user_ca_keys: ['from="10.0.0.0/8" ` + caLine + `']
users: [{name: alice, roles: [admin]}]
`, `keyturn.yaml:1:16: user_ca_keys[0]: key options`},
		"CA not a key": {`user_ca_keys: ["ssh-ed25519 nope"]
users: [{name: alice, roles: [admin]}]
`, `user_ca_keys[0]: not a public key line`},
		"principal with a comma": {`user_ca_keys: ["` + caLine + `"]
users: [{name: alice, roles: [admin], principals: ["a,b"]}]
`, `user "alice": principals[0]: principal "a,b": want no spaces, commas or control characters`},
		"revoked_keys unreadable": {`user_ca_keys: ["` + caLine + `"]
revoked_keys: missing.krl
users: [{name: alice, roles: [admin]}]
`, `revoked_keys: open ` + filepath.Join(dir, "missing.krl")},
		"revoked_keys malformed": {`user_ca_keys: ["` + caLine + `"]
revoked_keys: bad.krl
users: [{name: alice, roles: [admin]}]
`, `keyturn.yaml:2:15: revoked_keys: ` + filepath.Join(dir, "bad.krl") + `: krl: malformed revocation list`},
		"CA file missing": {`user_ca_keys_file: nope
users: [{name: alice, roles: [admin]}]
`, `user_ca_keys_file: open`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "keyturn.yaml"), []byte(tc.yaml+certTargets))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCertificateAsCAKey: a certificate in user_ca_keys is refused; the
// CA is the key that signs, not one it signed.
func TestCertificateAsCAKey(t *testing.T) {
	ca, _ := newPub(t)
	signer := sshtest.Signer(t)
	cert := &gossh.Certificate{Key: ca, CertType: gossh.UserCert, ValidBefore: gossh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(cert)))
	_, err := Parse("keyturn.yaml", []byte(`user_ca_keys: ["`+line+`"]
users: [{name: alice, roles: [admin]}]
`+certTargets))
	if err == nil || !strings.Contains(err.Error(), "a certificate is not a CA key") {
		t.Errorf("Parse error = %v; want a certificate refused as a CA key", err)
	}
}

// A bad line of an authorized_keys file or of user_ca_keys_file is named
// by its line in the file, the comment and blank lines before it counted.
func TestKeyFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	_, good := newPub(t)
	for _, name := range []string{"alice.keys", "cas"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("# keys\n\n"+good+"\nnot a key\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Parse(filepath.Join(dir, "keyturn.yaml"), []byte(`
user_ca_keys_file: cas
users:
  - name: alice
    roles: [admin]
    authorized_keys: alice.keys
`+certTargets))
	if err == nil {
		t.Fatal("Parse with a bad key line in each file = nil error")
	}
	for _, want := range []string{filepath.Join(dir, "alice.keys") + ":4: ", filepath.Join(dir, "cas") + ":4: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error %q; want it to name %q", err, want)
		}
	}
}
