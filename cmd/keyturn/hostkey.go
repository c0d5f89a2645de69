package main

import (
	"fmt"
	"io"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
)

// hostkeyMain prints the gate's host key, so an admin can check the
// fingerprint ssh shows on first contact, or put the key in known_hosts
// before it.
func hostkeyMain(args []string, stdout, stderr io.Writer) int {
	fs := stderrFlagSet("keyturn hostkey", "Usage: keyturn hostkey [--config FILE]\n\nPrints the gate's SSH host key, its SHA256 fingerprint, and the known_hosts\nline for the HostKeyAlias that 'ssh USER@gate ssh-config' writes. Creates the\nkey if the gate has never started. Safe to run while the gate runs.\n\n", stderr)
	configPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyturn hostkey: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, key, err := loadGateKey(*configPath, bastion.HostKeyFile)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn hostkey: %v\n", err)
		return 1
	}
	name := cfg.Name
	if name == "" {
		name = "keyturn"
	}
	pub := key.PublicKey()
	fmt.Fprintf(stdout, "host key:    %s\n", bastion.AuthorizedKey(pub, ""))
	fmt.Fprintf(stdout, "fingerprint: %s\n", gossh.FingerprintSHA256(pub))
	fmt.Fprintf(stdout, "known_hosts: %s %s\n", name, bastion.AuthorizedKey(pub, ""))
	return 0
}
