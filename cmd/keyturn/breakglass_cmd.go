package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keyturn/keyturn/bastion/mpa"
)

const breakglassUsage = `Usage:
  keyturn breakglass register-approver --data-dir DIR [--encryption-key-file FILE] NAME
  keyturn breakglass register-approver --config keyturn.yaml NAME

For when every approver has lost their TOTP: approves the pending
register_approver request for NAME without a quorum, so NAME becomes a
registered approver. It can approve nothing else: no command, no disabling
of MPA, no policy change. Its use is recorded in the audit trail.

Run it as the owner of the data dir on the gate host, with the gate
stopped. With --config it works on the store the config names; for etcd,
shared by several gates, it refuses while any gate is live. NAME must first have run 'mpa initiate-registration' and
'mpa complete-registration' at the gate, which leaves that request pending.
`

// breakglassMain runs `keyturn breakglass ...`.
func breakglassMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return subcommands("keyturn breakglass", breakglassUsage, args, stdout, stderr, map[string]func([]string) int{
		"register-approver": func(args []string) int { return breakglassRegister(args, stdout, stderr) },
	})
}

func breakglassRegister(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyturn breakglass register-approver", flag.ContinueOnError)
	dataDir, keyFile, cfgFile := storeFlags(fs, "use")
	pos, st, ok := parseFlags(fs, args, breakglassUsage, stdout, stderr)
	if !ok {
		return st
	}
	switch {
	case *cfgFile != "" && (*dataDir != "" || *keyFile != ""):
		fmt.Fprintf(stderr, "keyturn breakglass register-approver: --config goes alone (the config names the store and its key)\n\n%s", breakglassUsage)
		return 2
	case *dataDir == "" && *cfgFile == "":
		fmt.Fprintf(stderr, "keyturn breakglass register-approver: --data-dir is required\n\n%s", breakglassUsage)
		return 2
	case len(pos) != 1:
		fmt.Fprintf(stderr, "keyturn breakglass register-approver: want exactly one approver NAME, got %d arguments\n\n%s", len(pos), breakglassUsage)
		return 2
	}
	name := pos[0]
	store, log, err := openAdminStore(*cfgFile, *dataDir, *keyFile, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn breakglass register-approver: %v\n", err)
		return 1
	}
	defer store.Close()
	// The rule that only a registration can be forced lives in the
	// service; this command only names whose.
	r, err := mpa.New(store, mpa.Options{Logger: log}).BreakGlassRegisterApprover(context.Background(), name)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn breakglass register-approver: %v\n"+
			"(%s must first run 'mpa initiate-registration' and 'mpa complete-registration' at the gate)\n", err, name)
		return 1
	}
	fmt.Fprintf(stdout, "break-glass: approved request %s; %s is now a registered approver (request %s).\n"+
		"This use is recorded in the audit trail as breakglass.register_approver.\n", r.ID, name, r.Status)
	return 0
}
