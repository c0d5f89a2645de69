package mpacli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

// Service is what the commands need from [*mpa.Service]. It is defined
// here, by its user, so the gate passes its *mpa.Service as is.
type Service interface {
	InitiateRegistration(ctx context.Context, user string, force bool) (mpa.Registration, error)
	CompleteRegistration(ctx context.Context, user, code string) (mpa.Approver, *mpa.Request, error)
	Approvers(ctx context.Context) ([]mpa.Approver, error)
	Approver(ctx context.Context, name string) (mpa.Approver, error)

	Settings(ctx context.Context) (mpa.Settings, error)
	SetEnabled(ctx context.Context, user string, enabled bool) (*mpa.Request, error)
	Lifecycle() mpa.Lifecycle

	List(ctx context.Context, f mpa.ListFilter) ([]mpa.Request, error)
	Get(ctx context.Context, id string) (mpa.Request, error)
	Create(ctx context.Context, nr mpa.NewRequest) (mpa.Request, error)
	Cancel(ctx context.Context, id, user string) (mpa.Request, error)
	Approve(ctx context.Context, id, approver string, in mpa.VoteInput) (mpa.Request, error)
	Reject(ctx context.Context, id, approver string, in mpa.VoteInput) (mpa.Request, error)

	AuditEvents(ctx context.Context, f audit.Filter) iter.Seq2[audit.Event, error]
	VerifyAudit(ctx context.Context) error
	VerifyAuditChains(ctx context.Context) (map[string]audit.Head, error)

	RequestOutput(ctx context.Context, id string) (mpa.StoredOutput, error)

	// Approver groups (see mpa.GroupRule).
	Progress(ctx context.Context, r mpa.Request) (mpa.Progress, error)
	CanHelp(r mpa.Request, user string) bool
	GroupShortfall(ctx context.Context, requester string, actions []mpa.ActionRef, rules []mpa.GroupRule) ([]string, error)
}

var _ Service = (*mpa.Service)(nil)

// PolicyInfo is the policy in force: what `mpa settings pa-metadata list`
// shows and how `mpa requests create` decides a command line. *policy.Policy
// implements it; the gate passes an adapter over its reloading holder so a
// reload is seen by the next command.
type PolicyInfo interface {
	Actions() []policy.Action
	Decide(in policy.Input) policy.Decision
}

// Env is one invocation's context: who runs the command and with what.
type Env struct {
	User  string        // the authenticated gate user
	Roles []config.Role // the user's gate roles

	Stdout, Stderr io.Writer

	Service Service
	// Policy may be nil: pa-metadata then lists only keyturn's own
	// actions, and requests create refuses.
	Policy PolicyInfo

	// Release runs an approved request on this session and returns its
	// exit status (`mpa requests run ID`). The gate's implementation
	// commits Approved -> Executing through the service before it sends
	// the command, which is what makes a release happen once.
	Release func(ctx context.Context, id string) int

	// CanReach, if set, reports whether User may reach target; requests
	// create refuses a target the user could not run the command on
	// anyway. Nil skips the check.
	CanReach func(target string) bool

	// DefaultQuorum is the service's quorum for the requests it creates
	// itself (register_approver, disable_mpa, update_policy), shown by
	// pa-metadata; 0 means mpa's default of 2.
	DefaultQuorum int

	// PolicyProblem, if set, says what is wrong with policies.yaml on
	// disk ("" when nothing is); settings global view shows it.
	PolicyProblem func() string

	// Lockout is the gate's wrong-code lockout, for the tries left an
	// approver is told about.
	Lockout Lockout

	Now func() time.Time // time.Now if nil

	// Cert describes the certificate User logged in with ("" for a plain
	// key); requests create records it as the requester's.
	Cert string
}

// Run runs `mpa ARGS...` (args are the words after "mpa") and returns the
// exit status.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &call{ctx: ctx, env: env}
	return c.dispatch(root, args)
}

// call is one run of a command: the environment and the command being run
// (for its help text and error prefix).
type call struct {
	ctx context.Context
	env Env
	cmd *command
}

func (c *call) stdout() io.Writer { return c.env.Stdout }

func (c *call) dispatch(cmd *command, args []string) int {
	c.cmd = cmd
	if cmd.run != nil {
		return cmd.run(c, args)
	}
	if len(args) == 0 {
		c.usageErr(errors.New("missing command"))
		return exitcode.Usage
	}
	switch args[0] {
	case "-h", "--help", "help":
		writeHelp(c.env.Stdout, cmd, nil)
		return exitcode.OK
	}
	for _, sub := range cmd.subs {
		if sub.name == args[0] {
			return c.dispatch(sub, args[1:])
		}
	}
	c.usageErr(fmt.Errorf("unknown command %q", args[0]))
	return exitcode.Usage
}

// errorf prints "keyturn: mpa ...: message" for the command being run.
func (c *call) errorf(format string, args ...any) {
	fmt.Fprintf(c.env.Stderr, "keyturn: %s: %s\n", c.cmd.path(), fmt.Sprintf(format, args...))
}

// usageErr reports a usage error with a pointer to the help.
func (c *call) usageErr(err error) {
	c.errorf("%v", err)
	fmt.Fprintf(c.env.Stderr, "usage: %s\nRun '%s --help' for details.\n", c.cmd.synopsis(), c.cmd.path())
}

// fail reports err from the service and returns the exit status its kind
// calls for.
func (c *call) fail(err error) int {
	// The service's sentinels carry "mpa: " for logs; a person reads the
	// command's name once, in errorf's prefix.
	c.errorf("%s", strings.ReplaceAll(err.Error(), "mpa: ", ""))
	return exitFor(err)
}

// refused reports a refusal made here (a missing role).
func (c *call) refused(format string, args ...any) int {
	c.errorf(format, args...)
	return exitcode.NotPermitted
}

// exitFor is the exit status for an error from the service, from the
// one translation in [mpawords]: what the caller is not allowed to do is
// a refusal, a malformed argument a usage error, the rest a failure.
func exitFor(err error) int { return mpawords.Code(err, exitcode.Command) }

// hasRole reports whether the caller holds any of roles.
func (c *call) hasRole(roles ...config.Role) bool {
	for _, r := range roles {
		if slices.Contains(c.env.Roles, r) {
			return true
		}
	}
	return false
}

// require refuses unless the caller holds one of roles. It returns 0 when
// the caller may go on.
func (c *call) require(roles ...config.Role) int {
	if c.hasRole(roles...) {
		return exitcode.OK
	}
	return c.refused("%s needs the %s role; %s has %s", c.cmd.path(),
		orList(roles), c.env.User, rolesText(c.env.Roles))
}

// orList writes roles as "a", "a or b", "a, b or c".
func orList(roles []config.Role) string {
	if len(roles) <= 1 {
		return config.JoinRoles(roles, "")
	}
	return config.JoinRoles(roles[:len(roles)-1], ", ") + " or " + string(roles[len(roles)-1])
}

func rolesText(roles []config.Role) string {
	if len(roles) == 0 {
		return "no role"
	}
	return "role " + config.JoinRoles(roles, ",")
}

// parsed is a leaf command's arguments once flags are taken out.
type parsed struct {
	args []string // positional arguments
	tail []string // the words after "--", for commands that take a command line
}

// flags is a new flag set for the command being run. It prints nothing:
// parse reports its errors and its help in the command's own words.
func (c *call) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(c.cmd.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses fs (from flags) from args, allowing flags after positional arguments
// (`mpa requests approve ID --totp-code N` reads like isi's), checks the
// number of positional arguments, and handles --help. ok is false when the
// command must stop with status.
func (c *call) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (p parsed, status int, ok bool) {
	head := args
	if c.cmd.tail {
		if i := slices.Index(args, "--"); i >= 0 {
			head, p.tail = args[:i], args[i+1:]
		}
	}
	for {
		err := fs.Parse(head)
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(c.env.Stdout, c.cmd, fs)
			return p, exitcode.OK, false
		}
		if err != nil {
			c.usageErr(err)
			return p, exitcode.Usage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "-h" || rest[0] == "--help" {
			writeHelp(c.env.Stdout, c.cmd, fs)
			return p, exitcode.OK, false
		}
		p.args = append(p.args, rest[0])
		head = rest[1:]
	}
	switch {
	case len(p.args) < minArgs:
		c.usageErr(fmt.Errorf("missing %s", c.cmd.argName))
		return p, exitcode.Usage, false
	case maxArgs >= 0 && len(p.args) > maxArgs:
		c.usageErr(fmt.Errorf("unexpected argument %q", p.args[maxArgs]))
		return p, exitcode.Usage, false
	}
	return p, exitcode.OK, true
}

// readCommand parses the arguments of a list or view that takes no flag
// but --json, and checks the caller holds a role that may read. ok is
// false when the command must stop with status.
func (c *call) readCommand(args []string, minArgs, maxArgs int) (p parsed, asJSON bool, status int, ok bool) {
	fs := c.flags()
	j := jsonFlag(fs)
	if p, status, ok = c.parse(fs, args, minArgs, maxArgs); !ok {
		return p, false, status, false
	}
	if status := c.require(readRoles...); status != exitcode.OK {
		return p, false, status, false
	}
	return p, *j, exitcode.OK, true
}

// jsonFlag adds the --json flag every list and view takes.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON instead of a table")
}

// parseTime reads an absolute time (RFC 3339) or a duration. A duration is
// counted forward from now for deadlines (--valid-before 2h) and backward
// for look-backs (--since 24h), as sign says.
func parseTime(s string, now time.Time, sign time.Duration) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2025-03-01T12:00:00Z) nor a duration (2h)", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("duration %q must be positive", s)
	}
	return now.Add(sign * d), nil
}
