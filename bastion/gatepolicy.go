package bastion

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/policy"
)

// policyCommand answers 'ssh USER@gate policy test [--target T] [--pty]
// [--json] -- LINE' from the policy in force on this gate, so a policy
// author sees what the running gate will do. It is read-only: it decides,
// prints, and files nothing.
//
// The line is taken verbatim from the raw command after " -- ", so quotes
// and operators in it reach the policy as the user typed them.
func (g *Gate) policyCommand(w, errw io.Writer, raw string, args []string) int {
	const usage = "usage: policy test [--target NAME] [--pty] [--json] -- 'COMMAND LINE'\n"
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(errw, "keyturn: "+usage)
		return exitcode.Usage
	}
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(errw)
	target := fs.String("target", "", "decide as on target `NAME` (for actions limited by targets:)")
	pty := fs.Bool("pty", false, "decide as if a terminal was requested")
	asJSON := fs.Bool("json", false, "print the decision as JSON, with byte offsets and rule paths")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitcode.Usage
	}
	if fs.NArg() == 0 {
		fmt.Fprint(errw, "keyturn: give the command line after --: "+usage)
		return exitcode.Usage
	}
	command := strings.Join(fs.Args(), " ")
	if _, after, ok := strings.Cut(raw, " -- "); ok {
		command = strings.TrimSpace(after)
	}
	d := g.policy.Decide(policy.Input{Command: command, Target: *target, PTY: *pty})
	if *asJSON {
		b, err := json.Marshal(d)
		if err != nil {
			fmt.Fprintf(errw, "keyturn: encode decision: %v\n", err)
			return exitcode.Internal
		}
		fmt.Fprintf(w, "%s\n", b)
		return 0
	}
	fmt.Fprintf(w, "verdict: %s (from the policy in force on this gate)\n", d.Verdict)
	if d.Verdict == policy.Hold {
		reason := "optional"
		if d.ReasonRequired {
			reason = "required"
		}
		fmt.Fprintf(w, "needs: %s; reason %s; pending for up to %s, then %s to run once approved\n",
			plural(d.Quorum, "approval"), reason, roughDuration(d.PendingTTL), roughDuration(d.ApprovalTTL))
	}
	if d.Verdict != policy.Allow {
		for _, l := range explain(command, d, g.describer()) {
			fmt.Fprintln(w, l)
		}
	}
	return 0
}
