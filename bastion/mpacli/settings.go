package mpacli

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// paOut is one privileged action as pa-metadata list shows it.
type paOut struct {
	Service        string   `json:"service"`
	Action         string   `json:"action"`
	Quorum         int      `json:"quorum"`
	PendingTTL     string   `json:"pending_ttl,omitempty"`
	ApprovalTTL    string   `json:"approval_ttl,omitempty"`
	ReasonRequired bool     `json:"reason_required"`
	Targets        []string `json:"targets,omitempty"`
	Description    string   `json:"description,omitempty"`
}

// builtinActions are keyturn's own privileged actions: the requests the
// service creates (or the gate, for update_policy) to change MPA itself.
var builtinActions = []struct {
	ref  mpa.ActionRef
	desc string
}{
	{mpa.ActionRegisterApprover, "Register a new approver (or re-register) while MPA is enabled"},
	{mpa.ActionDisableMPA, "Disable multi-party approval"},
	{mpa.ActionUpdatePolicy, "Put a changed policies.yaml in force"},
}

func runPAMetadataList(c *call, args []string) int {
	_, asJSON, st, ok := c.readCommand(args, 0, 0)
	if !ok {
		return st
	}
	var out []paOut
	if c.env.Policy != nil {
		for _, a := range c.env.Policy.Actions() {
			out = append(out, paOut{
				Service: a.Service, Action: a.Name, Quorum: a.RequiredApprovals,
				PendingTTL: durText(a.PendingTTL), ApprovalTTL: durText(a.ApprovalTTL),
				ReasonRequired: a.ReasonRequired, Targets: a.Targets, Description: a.Description,
			})
		}
	}
	q := c.env.DefaultQuorum
	if q <= 0 {
		q = 2
	}
	life := c.env.Service.Lifecycle()
	for _, b := range builtinActions {
		out = append(out, paOut{
			Service: b.ref.Service, Action: b.ref.Name, Quorum: q,
			PendingTTL: durText(life.PendingTTL), ApprovalTTL: durText(life.ApprovalTTL),
			Description: b.desc,
		})
	}
	slices.SortStableFunc(out, func(a, b paOut) int { return strings.Compare(a.Service, b.Service) })
	if asJSON {
		return c.writeJSON(out)
	}
	tw := table(c.stdout())
	fmt.Fprintln(tw, "SERVICE\tACTION\tQUORUM\tREASON\tTARGETS\tDESCRIPTION")
	for _, a := range out {
		reason := "optional"
		if a.ReasonRequired {
			reason = "required"
		}
		targets := "*"
		if len(a.Targets) > 0 {
			targets = strings.Join(a.Targets, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", a.Service, a.Action, a.Quorum, reason, targets, dash(a.Description))
	}
	tw.Flush()
	return exitcode.OK
}

func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// lifecycleOut is one lifecycle row; the duration is given as text and
// in seconds so both people and scripts can read it.
type lifecycleOut struct {
	Status   string `json:"status"`
	Duration string `json:"duration"`
	Seconds  int64  `json:"seconds"`
	Meaning  string `json:"meaning"`
}

func runLifecycleList(c *call, args []string) int {
	_, asJSON, st, ok := c.readCommand(args, 0, 0)
	if !ok {
		return st
	}
	var out []lifecycleOut
	for _, e := range c.env.Service.Lifecycle().List() {
		out = append(out, lifecycleOut{Status: e.Status.String(), Duration: e.Duration.String(),
			Seconds: int64(e.Duration / time.Second), Meaning: e.Meaning})
	}
	if asJSON {
		return c.writeJSON(out)
	}
	tw := table(c.stdout())
	fmt.Fprintln(tw, "STATUS\tDURATION\tMEANING")
	for _, e := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Status, e.Duration, e.Meaning)
	}
	tw.Flush()
	return exitcode.OK
}

func runGlobalView(c *call, args []string) int {
	_, asJSON, st, ok := c.readCommand(args, 0, 0)
	if !ok {
		return st
	}
	s, err := c.env.Service.Settings(c.ctx)
	if err != nil {
		return c.fail(err)
	}
	if asJSON {
		return c.writeJSON(s)
	}
	fmt.Fprintf(c.stdout(), "Multi-party approval is %s\n", enabledWord(s.Enabled))
	if !s.Updated.IsZero() {
		fmt.Fprintf(c.stdout(), "Last changed %s by %s\n", fmtTime(s.Updated), dash(s.UpdatedBy))
	}
	for _, w := range c.globalWarnings() {
		fmt.Fprintf(c.stdout(), "Warning: %s\n", w)
	}
	return exitcode.OK
}

func enabledWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

func runGlobalModify(c *call, args []string) int {
	fs := c.flags()
	enable := fs.Bool("enable", false, "true to enable MPA, false to disable it (held for approval while enabled)")
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "enable" })
	if !given {
		c.usageErr(errors.New("--enable=true or --enable=false is required"))
		return exitcode.Usage
	}
	if st := c.require(config.RoleAdmin, config.RoleApprover); st != exitcode.OK {
		return st
	}
	held, err := c.env.Service.SetEnabled(c.ctx, c.env.User, *enable)
	if err != nil {
		return c.fail(err)
	}
	if held != nil {
		fmt.Fprintf(c.stdout(), "Disabling multi-party approval needs approval: request %s is pending (%d approvals needed).\n"+
			"MPA stays enabled until it is approved:\n\n    mpa requests approve %s --totp-code <code>\n",
			held.ID, held.RequiredApprovals, held.ID)
		return exitcode.OK
	}
	fmt.Fprintf(c.stdout(), "Multi-party approval is %s\n", enabledWord(*enable))
	return exitcode.OK
}

// globalWarnings are what an approver looking at the settings should know
// is wrong: a policies.yaml on disk that does not load, and actions whose
// quorum the registered approvers cannot reach.
func (c *call) globalWarnings() []string {
	var out []string
	if c.env.PolicyProblem != nil {
		if p := c.env.PolicyProblem(); p != "" {
			out = append(out, "policies.yaml on disk does not load; the last good policy stays in force: "+p)
		}
	}
	if c.env.Policy == nil {
		return out
	}
	as, err := c.env.Service.Approvers(c.ctx)
	if err != nil {
		return append(out, "could not count the registered approvers: "+err.Error())
	}
	n := 0
	for _, a := range as {
		if a.Status == mpa.Registered {
			n++
		}
	}
	for _, a := range c.env.Policy.Actions() {
		if a.RequiredApprovals > n {
			out = append(out, fmt.Sprintf("action %s needs %d approvals but only %d approvers are registered; its requests are refused",
				a.Name, a.RequiredApprovals, n))
		}
	}
	return out
}
