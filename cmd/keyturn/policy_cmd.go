package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

const policyUsage = `Usage:
  keyturn policy check [--config keyturn.yaml] [FILE]
      Validate a policy file (default ./policies.yaml). Prints "FILE: ok, N actions",
      or the first error as FILE:LINE:COL: message and exits 1. With --config, also
      warns about actions needing more approvals than the config has approvers,
      refuses an approvers rule naming a group no user is in, and warns where a
      rule's groups have fewer approvers than it needs.

  keyturn policy test [--policy FILE] [--target NAME] [--pty] [--json] -- 'COMMAND LINE'
  keyturn policy test [--policy FILE] [--target NAME] [--pty] --stdin
      Show what the gate decides for a command line, and why. Exits 0 whatever
      the verdict (1 if the policy cannot be loaded, 2 on a usage error).
      With --stdin, reads one command line per input line (a literal \n in a
      line stands for a newline) and prints one JSON object per line.
`

// policyMain runs "keyturn policy ...".
func policyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return subcommands("keyturn policy", policyUsage, args, stdout, stderr, map[string]func([]string) int{
		"check": func(args []string) int { return policyCheck(args, stdout, stderr) },
		"test":  func(args []string) int { return policyTest(args, stdin, stdout, stderr) },
		// -help as the flag package spells it, which this command took
		// before it dispatched through subcommands.
		"-help": func([]string) int {
			fmt.Fprint(stdout, policyUsage)
			return 0
		},
	})
}

// flagSet is a subcommand's flags with its usage text.
type flagSet struct {
	*flag.FlagSet
	usage string
}

func newFlagSet(name, usage string, stderr io.Writer) flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// parse prints the usage, to stdout for --help and to stderr for a
	// mistake, so the flag package must not print it as well.
	fs.Usage = func() {}
	return flagSet{fs, usage}
}

// parse parses args; it reports false, with the exit code, when the command
// should stop (after --help, exit 0; after a bad flag, exit 2).
func (fs flagSet) parse(args []string, stdout io.Writer) (int, bool) {
	err := fs.Parse(args)
	if err == nil {
		return 0, true
	}
	out, code := fs.Output(), 2
	if errors.Is(err, flag.ErrHelp) {
		out, code = stdout, 0
	}
	fmt.Fprint(out, fs.usage)
	fs.SetOutput(out)
	fs.PrintDefaults()
	return code, false
}

func policyCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "Usage: keyturn policy check [--config keyturn.yaml] [FILE]\n\nValidate a policy file (default ./policies.yaml). With --config, also warn about\nactions needing more approvals than the config has users with the approver role,\nrefuse an approvers rule naming a group no user is in, and warn where a rule's\ngroups have fewer approvers than it needs.\n\n", stderr)
	configPath := fs.String("config", "", "the gate's config `file`, to check quorums against its approvers")
	if code, ok := fs.parse(args, stdout); !ok {
		return code
	}
	file := "policies.yaml"
	switch fs.NArg() {
	case 0:
	case 1:
		file = fs.Arg(0)
	default:
		fmt.Fprintln(stderr, "keyturn policy check: want at most one FILE")
		return 2
	}
	p, err := policy.Load(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var warnings []string
	if *configPath != "" {
		cfg, err := config.Load(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		approvers := 0
		for _, u := range cfg.Users {
			if u.HasRole(config.RoleApprover) {
				approvers++
			}
		}
		for _, a := range p.Actions() {
			if a.RequiredApprovals > approvers {
				warnings = append(warnings, fmt.Sprintf("action %s needs %d approvals but %s gives only %d users the approver role; its requests would be refused",
					a.Name, a.RequiredApprovals, *configPath, approvers))
			}
		}
		// Approvers rules name groups the config gives users: a group no
		// user is in is refused like a policy error (a typo would hold
		// its requests for good).
		errs, gw := bastion.CheckApproverGroups(cfg, p)
		if len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			return 1
		}
		warnings = append(warnings, gw...)
	}
	n := len(p.Actions())
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(stdout, "%s: ok, %d action%s\n", file, n, plural)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return 0
}

func policyTest(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", "Usage: keyturn policy test [flags] -- 'COMMAND LINE'\n       keyturn policy test [flags] --stdin\n\nShow the gate's decision for a command line; exits 0 whatever the verdict.\n\n", stderr)
	file := fs.String("policy", "policies.yaml", "policy `FILE`")
	target := fs.String("target", "", "target host `NAME`, for actions limited by targets:")
	pty := fs.Bool("pty", false, "decide as if a terminal was requested")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	fromStdin := fs.Bool("stdin", false, "read one command line per input line (\\n stands for a newline); print JSON lines")
	if code, ok := fs.parse(args, stdout); !ok {
		return code
	}
	if *fromStdin == (fs.NArg() > 0) {
		fmt.Fprintln(stderr, "keyturn policy test: give either a command line after -- or --stdin")
		return 2
	}
	p, err := policy.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	in := policy.Input{Target: *target, PTY: *pty}
	if *fromStdin {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			in.Command = strings.ReplaceAll(sc.Text(), `\n`, "\n")
			if err := writeJSONLine(stdout, in.Command, p.Decide(in)); err != nil {
				fmt.Fprintln(stderr, "keyturn policy test:", err)
				return 1
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "keyturn policy test: read stdin:", err)
			return 1
		}
		return 0
	}
	in.Command = strings.Join(fs.Args(), " ")
	d := p.Decide(in)
	if *asJSON {
		if err := writeJSONLine(stdout, in.Command, d); err != nil {
			fmt.Fprintln(stderr, "keyturn policy test:", err)
			return 1
		}
		return 0
	}
	text, _ := os.ReadFile(*file) // loaded above; only for rule lines
	printDecision(stdout, in.Command, d, func(id string) string {
		if n := bastion.PolicyRuleLine(text, id); n > 0 {
			return fmt.Sprintf("%s line %d", filepath.Base(*file), n)
		}
		return ""
	})
	return 0
}

// writeJSONLine prints the decision with the command line it is for.
func writeJSONLine(w io.Writer, command string, d policy.Decision) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}
	c, err := json.Marshal(command)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	_, err = fmt.Fprintf(w, "{\"command\":%s,%s\n", c, b[1:])
	return err
}

// printDecision shows the decision for a person: the verdict, the actions,
// and each match as the gate renders it ([mpawords.MatchLines]): the
// command line with the words that decided it marked underneath.
//
// A rule is named by where it is (ruleAt: "policies.yaml line 50"), never
// by its path (actions[0].match[0]), and words by their text, never by
// byte offsets: both stay in --json.
func printDecision(w io.Writer, command string, d policy.Decision, ruleAt func(id string) string) {
	fmt.Fprintf(w, "verdict: %s\n", d.Verdict)
	if len(d.Actions) > 0 {
		names := make([]string, len(d.Actions))
		for i, a := range d.Actions {
			names[i] = a.Name + " (" + a.Service + ")"
		}
		fmt.Fprintf(w, "actions: %s\n", strings.Join(names, ", "))
	}
	if d.Verdict == policy.Hold {
		reason := "optional"
		if d.ReasonRequired {
			reason = "required"
		}
		fmt.Fprintf(w, "quorum: %d, pending_ttl: %s, approval_ttl: %s, reason: %s\n",
			d.Quorum, d.PendingTTL, d.ApprovalTTL, reason)
	}
	if len(d.Why) == 0 {
		return
	}
	fmt.Fprintln(w, "why:")
	for _, l := range mpawords.MatchLines(command, d.Why, ruleAt) {
		fmt.Fprintln(w, l)
	}
}
