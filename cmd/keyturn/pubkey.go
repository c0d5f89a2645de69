package main

import (
	"fmt"
	"io"

	"github.com/keyturn/keyturn/bastion"
)

func pubkeyMain(args []string, stdout, stderr io.Writer) int {
	fs := stderrFlagSet("keyturn pubkey", "Usage: keyturn pubkey [--config FILE]\n\nPrints the authorized_keys line of the key the gate logs in to targets with,\ncreating the key if needed. Safe to run while the gate runs.\n\n", stderr)
	configPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	_, key, err := loadGateKey(*configPath, bastion.ClientKeyFile)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn pubkey: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, bastion.AuthorizedKey(key.PublicKey(), "keyturn-gate"))
	return 0
}
