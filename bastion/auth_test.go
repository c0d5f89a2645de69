package bastion

import (
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// Only public keys get in: no password, no keyboard-interactive, no "none"
// (gliderlabs turns NoClientAuth on when it has no handler of its own; the
// e2e refusals script checks OpenSSH is offered publickey alone).
func TestOnlyPublicKeysAdvertised(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	for name, auth := range map[string][]gossh.AuthMethod{
		"none":     nil,
		"password": {gossh.Password("hunter2")},
		"keyboard-interactive": {gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return nil, nil
		})},
	} {
		c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{User: "alice", Auth: auth, HostKeyCallback: gossh.FixedHostKey(tg.hostKey)})
		if err == nil {
			c.Close()
			t.Fatalf("%s: logged in without a key", name)
		}
	}
}

// A refused key is explained once per connection, whatever the number of
// keys offered, and a working key after a refused one still gets in.
func TestRefusedKeyExplainedOnce(t *testing.T) {
	tg := startTestGate(t, allowAllPolicy)
	wrong1, wrong2 := testSigner(t), testSigner(t)
	for _, tc := range []struct {
		user    string
		keys    []gossh.Signer
		wantErr bool
	}{
		{"alice", []gossh.Signer{wrong1, wrong2}, true},
		{"nobody", []gossh.Signer{wrong1, tg.alice}, true},
		{"alice", []gossh.Signer{wrong1, tg.alice}, false},
	} {
		var banners []string
		c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
			User: tc.user, Auth: []gossh.AuthMethod{gossh.PublicKeys(tc.keys...)},
			HostKeyCallback: gossh.FixedHostKey(tg.hostKey),
			BannerCallback:  func(m string) error { banners = append(banners, m); return nil },
		})
		if c != nil {
			c.Close()
		}
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s with %d keys: err %v; want error %v", tc.user, len(tc.keys), err, tc.wantErr)
		}
		if len(banners) != 1 || !strings.Contains(banners[0], "not registered to \""+tc.user+"\"") {
			t.Errorf("%s: banners %q; want the explanation once", tc.user, banners)
		}
	}
}
