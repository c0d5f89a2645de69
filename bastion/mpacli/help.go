package mpacli

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// command is a node of the `mpa` command tree: a group with subcommands,
// or an action with run.
type command struct {
	name    string
	summary string // one line, in the parent's list
	about   string // the description in this command's own help
	// synopsis after the command's path: arguments and flags.
	args    string
	argName string // what a missing positional argument is called
	tail    bool   // takes a command line after "--"
	run     func(c *call, args []string) int
	subs    []*command
	parent  *command
}

func (cmd *command) path() string {
	if cmd.parent == nil {
		return cmd.name
	}
	return cmd.parent.path() + " " + cmd.name
}

func (cmd *command) synopsis() string {
	if cmd.run == nil {
		return cmd.path() + " <command>"
	}
	if cmd.args == "" {
		return cmd.path()
	}
	return cmd.path() + " " + cmd.args
}

// root is the `mpa` tree; the shape (and the words) follow `isi mpa`.
var root = link(nil, &command{
	name:    "mpa",
	summary: "Manage multi-party approval.",
	about: "Manage multi-party approval (MPA): privileged commands wait for approvals\n" +
		"from registered approvers, each proving it is them with a TOTP code.",
	subs: []*command{
		{name: "complete-registration", summary: "Complete approver registration.",
			about: "Confirm the secret from initiate-registration with a code from your\n" +
				"authenticator app. While MPA is enabled, a new approver is itself a held\n" +
				"register_approver request that existing approvers must approve.",
			args: "--totp-code N", run: runCompleteRegistration},
		{name: "initiate-registration", summary: "Initiate approver registration.",
			about: "Issue a new TOTP secret: load it into an authenticator app (scan the QR\n" +
				"code, or enter the secret or URL), then run complete-registration.\n" +
				"Needs the approver role. A registered approver re-registers with --force.",
			args: "[--force]", run: runInitiateRegistration},
		{name: "approvers", summary: "Manage approvers.",
			about: "List and view approvers and where they are in registration.",
			subs: []*command{
				{name: "list", summary: "List approvers.", about: "List approvers.",
					args: "[--json]", run: runApproversList},
				{name: "view", summary: "View one approver.", about: "View one approver.",
					args: "NAME [--json]", argName: "approver NAME", run: runApproversView},
			}},
		{name: "audit", summary: "Read and check the audit trail.",
			about: "The audit trail is hash-chained: each event carries the SHA-256 of the one\n" +
				"before, so an edited, removed or reordered event is detected.",
			subs: []*command{
				{name: "export", summary: "Export the audit trail as JSON Lines.",
					about: "Write every event as JSON Lines, one event per line with its chain\n" +
						"hashes. Check the export offline with 'keyturn audit verify --file FILE'.",
					run: runAuditExport},
				{name: "list", summary: "List audit events.",
					about: "List audit events, oldest first. TIME is an RFC 3339 time or a duration\n" +
						"back from now (24h).",
					args: "[--since TIME] [--user U] [--request ID] [--json]", run: runAuditList},
				{name: "verify", summary: "Verify the audit chain.",
					about: "Walk the whole chain and name the first bad event. Exits 1 on a bad chain.",
					run:   runAuditVerify},
			}},
		{name: "requests", summary: "Manage requests.",
			about: "Privileged actions wait as requests until enough approvers approve them.",
			subs: []*command{
				{name: "approve", summary: "Approve a request.",
					about: "Approve a pending request with a code from your authenticator app. Each\n" +
						"approver counts once and never for their own request. --valid-before\n" +
						"limits how long your approval holds: an RFC 3339 time or a duration (2h).",
					args:    "ID --totp-code N [--comment C] [--valid-before TIME] [--json]",
					argName: "request ID", run: runRequestsApprove},
				{name: "cancel", summary: "Cancel your own request.",
					about: "Withdraw a pending or approved request. Only its requester may.",
					args:  "ID", argName: "request ID", run: runRequestsCancel},
				{name: "create", summary: "Create a request ahead of running a command.",
					about: "Decide CMD for TARGET with the policy in force and, if it is held, create\n" +
						"the request now so approvers can approve it before you run it (then use\n" +
						"'mpa requests run ID').",
					args: "--target T [--reason R] [--json] -- 'CMD'", argName: "command after --",
					tail: true, run: runRequestsCreate},
				{name: "list", summary: "List requests.",
					about: "List requests, oldest first. STATUS is one or more of " + statusNames() + ",\n" +
						"comma-separated.",
					args: "[--status STATUS,...] [--json]", run: runRequestsList},
				{name: "reject", summary: "Reject a request.",
					about: "Reject a pending request with a code from your authenticator app. One\n" +
						"rejection rejects the request. A comment saying why is required.",
					args:    "ID --totp-code N --comment C [--json]",
					argName: "request ID", run: runRequestsReject},
				{name: "run", summary: "Run your approved request.",
					about: "Run an approved request you detached from, on this session. Only its\n" +
						"requester may, and only once.",
					args: "ID", argName: "request ID", run: runRequestsRun},
				{name: "view", summary: "View a request.", about: "View a request.",
					args: "ID [--json]", argName: "request ID", run: runRequestsView},
				{name: "output", summary: "Show what a released command wrote.",
					about: "Show the kept output of a released command: stdout and stderr as they\n" +
						"came, with times, escaped for the terminal; the head and tail when it\n" +
						"was longer than the gate keeps. The kept copy is checked against the\n" +
						"audit trail first. --cast writes an asciicast v2 recording instead\n" +
						"(mpa requests output ID --cast > x.cast; asciinema play x.cast).",
					args: "ID [--cast | --json]", argName: "request ID", run: runRequestsOutput},
			}},
		{name: "settings", summary: "Manage settings.",
			about: "View the privileged actions, the request lifecycle and the global switch.",
			subs: []*command{
				{name: "global", summary: "The global MPA switch.",
					about: "View or change whether MPA is enabled.",
					subs: []*command{
						{name: "modify", summary: "Enable or disable MPA.",
							about: "Enabling needs at least two registered approvers and takes effect at\n" +
								"once. Disabling while enabled is itself a held disable_mpa request.",
							args: "--enable=true|false", run: runGlobalModify},
						{name: "view", summary: "View the global settings.", about: "View the global settings.",
							args: "[--json]", run: runGlobalView},
					}},
				{name: "pa-metadata", summary: "Privileged actions.",
					about: "The privileged actions in force, by service, with their quorum.",
					subs: []*command{
						{name: "list", summary: "List privileged actions.",
							about: "List the privileged actions in force, by service, with their quorum:\n" +
								"the policy's actions and keyturn's own.",
							args: "[--json]", run: runPAMetadataList},
					}},
				{name: "request-lifecycle", summary: "Request lifecycle times.",
					about: "How long requests wait and how long finished ones are kept.",
					subs: []*command{
						{name: "list", summary: "List the lifecycle times.",
							about: "How long requests wait for approval and to be run, and how long\n" +
								"finished requests are kept. Audit events are kept regardless.",
							args: "[--json]", run: runLifecycleList},
					}},
			}},
	},
})

// link sets the parent pointers of cmd's tree and returns cmd.
func link(parent, cmd *command) *command {
	cmd.parent = parent
	for _, s := range cmd.subs {
		link(cmd, s)
	}
	return cmd
}

// writeHelp prints cmd's help in the layout of `isi mpa --help`:
// Description, Usage, then Actions and Subcommands for a group or Options
// for an action (fs, when given).
func writeHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Description:\n%s\n\nUsage:\n    %s\n        [--help | -h]\n", indent(cmd.about, "    "), cmd.synopsis())
	var actions, groups []*command
	for _, s := range cmd.subs {
		if s.run != nil {
			actions = append(actions, s)
		} else {
			groups = append(groups, s)
		}
	}
	list := func(title string, cmds []*command) {
		if len(cmds) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 4, ' ', 0)
		for _, s := range cmds {
			fmt.Fprintf(tw, "    %s\t%s\n", s.name, s.summary)
		}
		tw.Flush()
	}
	list("Actions", actions)
	list("Subcommands", groups)
	if fs != nil {
		fmt.Fprintf(w, "\nOptions:\n")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			if name == "" || isBool(f) {
				fmt.Fprintf(w, "    --%s\n", f.Name)
			} else {
				fmt.Fprintf(w, "    --%s %s\n", f.Name, name)
			}
			fmt.Fprintf(w, "        %s\n", usage)
		})
		fmt.Fprintf(w, "    --help | -h\n        Display help for this command.\n")
	}
	if cmd.run == nil {
		fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's options.\n", cmd.path())
	}
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
