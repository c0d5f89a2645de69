package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/grant"
)

// guardDir is where `keyturn guard install` puts the guard on a target: a
// directory of its own, since the guard reads its files from beside itself.
const guardDir = "/usr/local/libexec/keyturn-guard"

func guardMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "install" {
		fmt.Fprintln(stderr, "Usage: keyturn guard install [--config FILE] TARGET")
		return 2
	}
	fs := stderrFlagSet("keyturn guard install", "Usage: keyturn guard install [--config FILE] TARGET\n\nPrints the steps (account, login shell, keys, policy) that make\nkeyturn-guard the login of the account the gate uses on TARGET.\nIt changes nothing itself. Creates the gate's keys if needed.\n\n", stderr)
	configPath := configFlag(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return exitForFlagErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "keyturn guard install: %v\n", err)
		return 1
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail(err)
	}
	t, ok := cfg.Target(fs.Arg(0))
	if !ok {
		return fail(fmt.Errorf("%s has no target %q", cfg.Path(), fs.Arg(0)))
	}
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.HostKeyFile))
	if err != nil {
		return fail(err)
	}
	clientKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.ClientKeyFile))
	if err != nil {
		return fail(err)
	}
	pol, err := os.ReadFile(cfg.Policies)
	if err != nil {
		return fail(err)
	}
	user := t.User
	if user == "" {
		user = "keyturn"
	}
	shell := guardDir + "/keyturn-guard"
	if user == "root" {
		// Making root's own login shell the guard would lock every
		// other root login into it: use a second uid-0 account.
		user = "keyturn-root"
		fmt.Fprintf(stdout, "# Target %s logs in as root. Do not make root's own shell the guard: the steps\n"+
			"# below create %s (uid 0); set user: %s for this target in keyturn.yaml.\n", t.Name, user, user)
	}
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil {
		host, port = t.Address, "22"
	}
	fmt.Fprintf(stdout, `# keyturn-guard on target %[1]s (%[2]s), account %[3]s. Run as root there.
# Build the guard for the target (static, no cgo):
#   CGO_ENABLED=0 GOARCH=amd64 go build ./cmd/keyturn-guard    (or GOARCH=arm64)

# 1. The guard and the files it reads from beside itself, owned by root and
#    not writable by the account:
install -d -o root -g root -m 0755 %[4]s
install -o root -g root -m 0755 keyturn-guard %[5]s
cat > %[4]s/gate.pub <<'KEY'
%[6]sKEY
printf '%%s\n' '%[1]s' > %[4]s/target
# The gate's policy, byte for byte (sha256 %[7]s). Copy it again whenever
# it changes: the guard refuses grants made under another policy.
install -o root -g root -m 0644 %[8]s %[4]s/policies.yaml

# 2. The account, with the guard as its login shell. The guard keeps no
#    state: each run answers a fresh challenge. For root work use a second
#    uid-0 account, so root's own shell stays as it is:
grep -qx %[5]s /etc/shells || echo %[5]s >> /etc/shells
id %[3]s >/dev/null 2>&1 && usermod -s %[5]s %[3]s || \
  useradd -o -u 0 -g 0 -m -d /var/lib/%[3]s -s %[5]s %[3]s
# (A non-root account works too; then setuid programs such as sudo do not
#  gain privileges inside the traced tree, as seccomp needs no_new_privs.)

# 3. The gate's client key, and nothing that runs before the login shell:
install -d -m 0700 -o %[3]s "$(getent passwd %[3]s | cut -d: -f6)/.ssh"
echo '%[9]s' >> "$(getent passwd %[3]s | cut -d: -f6)/.ssh/authorized_keys"
#    sshd_config must not give %[3]s a ForceCommand or PermitUserEnvironment.
#    Better, so that a line cannot add a key of its own (which would log in
#    for port forwarding, where no shell runs): a root-owned key file and
#    no forwarding for the account, in sshd_config:
#      Match User %[3]s
#        AuthorizedKeysFile /etc/ssh/authorized_keys/%%u
#        DisableForwarding yes

# 4. In the gate's keyturn.yaml, for target %[1]s:
#      guard: true
#      require_guard: true    # refuse the target unless its login is the guard
# Check from the gate host: ssh -i <client key> -p %[11]s %[3]s@%[10]s 'keyturn-guard --probe'
#   answers: keyturn-guard protocol 2
`, t.Name, t.Address, user, guardDir, shell,
		bastion.AuthorizedKey(hostKey.PublicKey(), "keyturn-gate-grants")+"\n",
		grant.PolicyDigest(pol), cfg.Policies,
		bastion.AuthorizedKey(clientKey.PublicKey(), "keyturn-gate"), host, port)
	return 0
}
