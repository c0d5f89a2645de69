package bastion

import (
	"strings"
	"testing"
)

// ssh-config names every login in full (no % tokens, which OpenSSH 9.2
// sends literally), shares one HostKeyAlias, and has a block per target.
func TestWriteSSHConfig(t *testing.T) {
	key := testSigner(t).PublicKey()
	var b strings.Builder
	if err := WriteSSHConfig(&b, SSHConfigOptions{Gate: "gate-a", User: "alice", HostName: "gate.example", Port: "2222",
		Targets: []string{"db-1", "web-1"}, HostKey: key}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\nHost gate-a\n  HostName gate.example\n  Port 2222\n  User alice\n  HostKeyAlias gate-a\n",
		"\nHost web-1\n  HostName gate.example\n  Port 2222\n  User alice+web-1\n  HostKeyAlias gate-a\n  ControlMaster auto\n  ControlPath ~/.ssh/keyturn-gate-a-alice+web-1\n  ControlPersist 10m\n",
		"\nHost db-1\n",
		"#   gate-a " + AuthorizedKey(key, "") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ssh-config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "%") {
		t.Errorf("ssh-config uses a %% token:\n%s", out)
	}
}
