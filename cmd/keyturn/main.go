// Command keyturn is the keyturn gate and its tools.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `keyturn: an SSH bastion that enforces the two-person rule on privileged commands

Usage:
  keyturn serve  --config keyturn.yaml   run the gate (--check: check config and policy, then exit)
  keyturn demo                           run a gate, a demo target and demo users on loopback
  keyturn pubkey --config keyturn.yaml   print the gate's client key for targets' authorized_keys
  keyturn guard install --config keyturn.yaml TARGET
                                         print the steps that make keyturn-guard a target's login
  keyturn hostkey --config keyturn.yaml  print the gate's host key, fingerprint and known_hosts line
  keyturn --version                      print the version
  keyturn policy check [FILE]            validate a policies.yaml
  keyturn policy test [flags] -- 'CMD'   show the decision for a command line
  keyturn audit verify (--data-dir DIR | --file EXPORT.jsonl)
                                         check the audit trail's hash chain offline
  keyturn breakglass register-approver --data-dir DIR NAME
                                         approve a new approver's registration (gate stopped)

Run 'keyturn COMMAND --help' for a command's flags.
`

// run is main without the process: tests drive it through testscript.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	version := func([]string) int {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	return subcommands("keyturn", usage, args, stdout, stderr, map[string]func([]string) int{
		"--version":  version,
		"-version":   version,
		"version":    version,
		"hostkey":    func(args []string) int { return hostkeyMain(args, stdout, stderr) },
		"serve":      func(args []string) int { return serveMain(args, stdout, stderr) },
		"demo":       func(args []string) int { return demoMain(args, stdout, stderr) },
		"audit":      func(args []string) int { return auditMain(args, stdin, stdout, stderr) },
		"breakglass": func(args []string) int { return breakglassMain(args, stdin, stdout, stderr) },
		"pubkey":     func(args []string) int { return pubkeyMain(args, stdout, stderr) },
		"guard":      func(args []string) int { return guardMain(args, stdout, stderr) },
		"policy":     func(args []string) int { return policyMain(args, stdin, stdout, stderr) },
	})
}

// subcommands runs the one of cmds that args[0] names, with the rest of
// args; with no args, or one it does not know, it prints usage and
// returns 2; help prints usage to stdout. prog names the command in
// errors ("keyturn audit").
func subcommands(prog, usage string, args []string, stdout, stderr io.Writer, cmds map[string]func(args []string) int) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if run, ok := cmds[args[0]]; ok {
		return run(args[1:])
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", prog, args[0], usage)
	return 2
}

// stderrFlagSet is the flag set of `name` (keyturn serve, say): errors and
// --help go to stderr, --help as usage and then the flags.
func stderrFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// configFlag is the --config flag the commands that read the gate's config
// share.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "keyturn.yaml", "the gate's config `file`")
}

// loadGateKey loads the gate's config from configPath and its key file (a
// name like bastion.HostKeyFile) from the config's data directory,
// creating the key if the gate has never made it.
func loadGateKey(configPath, file string) (*config.Config, gossh.Signer, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, file))
	if err != nil {
		return nil, nil, err
	}
	return cfg, key, nil
}
