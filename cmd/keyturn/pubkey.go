package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
)

func pubkeyMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyturn pubkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "keyturn.yaml", "the gate's config `file`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: keyturn pubkey [--config FILE]\n\nPrints the authorized_keys line of the key the gate logs in to targets with,\ncreating the key if needed. Safe to run while the gate runs.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn pubkey: %v\n", err)
		return 1
	}
	key, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.ClientKeyFile))
	if err != nil {
		fmt.Fprintf(stderr, "keyturn pubkey: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, bastion.AuthorizedKey(key.PublicKey(), "keyturn-gate"))
	return 0
}
