package bastion

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpacli"
)

// gateCommand runs a command in the gate's own namespace (login name without
// a target).
func (g *Gate) gateCommand(s ssh.Session, id Identity) int {
	args := s.Command()
	if len(args) == 0 {
		return g.console(s, id)
	}
	switch args[0] {
	case "help", "--help", "-h":
		fmt.Fprint(s, gateHelp)
		return 0
	case "whoami":
		u, _ := g.cfg.User(id.User)
		fmt.Fprintf(s, "user: %s\nroles: %s\nkey: %s\nfrom: %s\n", id.User, config.JoinRoles(u.Roles, ","), id.Fingerprint, id.Remote)
		if id.Cert != nil {
			fmt.Fprintf(s, "certificate: %s\n", id.Cert)
		}
		return 0
	case "mpa":
		return g.mpaCommand(s, id, args[1:])
	case "policy":
		return g.policyCommand(s, s.Stderr(), s.RawCommand(), args[1:])
	case "ssh-config":
		return g.sshConfigCommand(s, s.Stderr(), id.User, s.LocalAddr(), args[1:])
	case "targets":
		u, _ := g.cfg.User(id.User)
		var names []string
		for _, t := range g.cfg.Targets {
			if u.CanReach(t.Name) {
				names = append(names, t.Name)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintln(s, n)
		}
		return 0
	}
	say(s, "keyturn: unknown gate command %q; try 'help'", args[0])
	return exitcode.Usage
}

const gateHelp = `keyturn gate commands (ssh USER@gate COMMAND):
  whoami     who the gate thinks you are, and with which key
  targets    the targets you may reach (ssh USER+TARGET@gate 'CMD')
  ssh-config ~/.ssh/config Host blocks for the gate and each target you may reach
             (--hostname NAME if clients reach the gate by a name)
  policy test -- 'LINE'
             what the policy in force here decides for LINE (read-only)
  mpa        multi-party approval: registration, requests, approvals, settings, audit
             ('mpa --help' for more)
  help       this text
`

// mpaCommand runs the mpa command namespace for the session's user.
func (g *Gate) mpaCommand(s ssh.Session, id Identity, args []string) int {
	u, _ := g.cfg.User(id.User)
	var policyInfo mpacli.PolicyInfo
	if p, ok := g.policy.(mpacli.PolicyInfo); ok && p != nil {
		policyInfo = p
	}
	return mpacli.Run(s.Context(), mpacli.Env{
		User:          id.User,
		Roles:         u.Roles,
		Stdout:        s,
		Stderr:        s.Stderr(),
		Service:       g.mpa,
		Policy:        policyInfo,
		CanReach:      func(target string) bool { return g.authorizeTarget(Identity{User: id.User, Target: target}) == "" },
		Release:       func(_ context.Context, reqID string) int { return g.release(s, id, reqID) },
		Now:           time.Now,
		PolicyProblem: g.policyProblem,
		Lockout:       mpacli.Lockout{Threshold: g.cfg.TOTP.LockoutThreshold, Duration: g.cfg.TOTP.LockoutDuration.Std()},
		Cert:          certLine(id.Cert),
	}, args)
}

// console opens the approvers' console (ssh -t USER@gate). It needs a
// terminal; without one the user is pointed at the mpa commands.
func (g *Gate) console(s ssh.Session, id Identity) int {
	if _, _, pty := s.Pty(); !pty {
		say(s, "keyturn: the approvers' console needs a terminal: ssh -t %s@gate (or 'ssh %s@gate help')", id.User, id.User)
		return exitcode.Usage
	}
	if g.runConsole == nil {
		say(s, "keyturn: this gate has no console; use the mpa commands ('ssh %s@gate help')", id.User)
		return exitcode.Usage
	}
	u, _ := g.cfg.User(id.User)
	g.record(s.Context(), audit.KindConsoleOpen, id, nil)
	if err := g.runConsole(s, ConsoleSession{
		User: id.User, Approver: u.HasRole(config.RoleApprover), MPA: g.mpa,
		Stopping: g.stopping, PolicyProblem: g.policyProblem,
	}); err != nil {
		g.log.Error("console", "user", id.User, "err", err)
		return exitcode.Internal
	}
	return 0
}
