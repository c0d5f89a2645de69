package mpacli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

func runRequestsList(c *call, args []string) int {
	fs := c.flags()
	statuses := fs.String("status", "", "only requests in these `STATUS`es, comma-separated ("+statusNames()+")")
	asJSON := jsonFlag(fs)
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	var f mpa.ListFilter
	if *statuses != "" {
		for name := range strings.SplitSeq(*statuses, ",") {
			s, err := mpa.ParseStatus(strings.TrimSpace(name))
			if err != nil {
				c.usageErr(fmt.Errorf("--status: unknown status %q (want %s)", name, statusNames()))
				return exitcode.Usage
			}
			f.Statuses = append(f.Statuses, s)
		}
	}
	if st := c.require(readRoles...); st != exitcode.OK {
		return st
	}
	all, err := c.env.Service.List(c.ctx, f)
	if err != nil {
		return c.fail(err)
	}
	var rs []mpa.Request
	for _, r := range all {
		if c.seesRequest(r) {
			rs = append(rs, r)
		}
	}
	if *asJSON {
		if rs == nil {
			rs = []mpa.Request{} // [] rather than null for scripts
		}
		return c.writeJSON(rs)
	}
	now := c.env.Now()
	tw := table(c.stdout())
	fmt.Fprintln(tw, "ID\tSTATUS\tREQUESTER\tTARGET\tAPPROVALS\tEXPIRES\tCOMMAND")
	marked := false
	for _, r := range rs {
		expires := "-"
		if !r.Status.Final() {
			expires = fmtDeadline(r.ExpiresAt, now)
		}
		status := r.Status.String()
		if c.notForMe(r) {
			status += "*"
			marked = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, status, r.Requester, dash(r.Target),
			len(r.Approvals), r.RequiredApprovals, expires, describe(r))
	}
	tw.Flush()
	if marked {
		fmt.Fprintf(c.stdout(), "* you cannot help: none of the lines it still needs is one of your groups\n")
	}
	fmt.Fprintf(c.stdout(), "Total: %d\n", len(rs))
	return exitcode.OK
}

func runRequestsView(c *call, args []string) int {
	p, asJSON, st, ok := c.readCommand(args, 1, 1)
	if !ok {
		return st
	}
	r, err := c.getRequest(p.args[0])
	if err != nil {
		return c.fail(err)
	}
	if asJSON {
		return c.writeJSON(r)
	}
	writeRequest(c.stdout(), r, c.env.Now())
	tw := table(c.stdout())
	if err := c.writeProgress(tw, r); err != nil {
		return c.fail(err)
	}
	tw.Flush()
	return exitcode.OK
}

func runRequestsCreate(c *call, args []string) int {
	fs := c.flags()
	target := fs.String("target", "", "the target host `T` the command is for")
	reason := fs.String("reason", "", "reason `R`: why the command must run, shown to approvers")
	asJSON := jsonFlag(fs)
	p, st, ok := c.parse(fs, args, 0, 0)
	if !ok {
		return st
	}
	switch {
	case *target == "":
		c.usageErr(errors.New("--target is required"))
		return exitcode.Usage
	case len(p.tail) == 0 || strings.TrimSpace(strings.Join(p.tail, "")) == "":
		c.usageErr(errors.New("missing command after --"))
		return exitcode.Usage
	}
	if st := c.require(config.RoleAdmin); st != exitcode.OK {
		return st
	}
	if c.env.CanReach != nil && !c.env.CanReach(*target) {
		return c.refused("%s may not reach target %q", c.env.User, *target)
	}
	if c.env.Policy == nil {
		c.errorf("no policy loaded")
		return exitcode.Failure
	}
	line := joinCommand(p.tail)
	d := c.env.Policy.Decide(policy.Input{Command: line, Target: *target})
	switch d.Verdict {
	case policy.Hold:
	case policy.Allow:
		fmt.Fprintf(c.stdout(), "%s: needs no approval; run it with ssh %s+%s@gate %s\n",
			c.decisionWords(line, d), c.env.User, *target, shellQuote(line))
		return exitcode.OK
	default: // Deny, and a verdict this code does not know
		return c.refused("%s", c.decisionWords(line, d))
	}
	settings, err := c.env.Service.Settings(c.ctx)
	if err != nil {
		return c.fail(err)
	}
	if !settings.Enabled {
		// As the vendors do it: until MPA is enabled, privileged commands
		// pass (audited by the gate), so there is nothing to approve.
		fmt.Fprintf(c.stdout(), "%s\nMulti-party approval is disabled, so it needs no approval now; run it with ssh %s+%s@gate %s\n",
			c.decisionWords(line, d), c.env.User, *target, shellQuote(line))
		return exitcode.OK
	}
	if d.ReasonRequired && strings.TrimSpace(*reason) == "" {
		c.usageErr(fmt.Errorf("a reason is required for %s: give --reason 'why'", actionList(d.Actions)))
		return exitcode.Usage
	}
	if st, ok := c.quorumReachable(d); !ok {
		return st
	}
	why, err := json.Marshal(BoundWhy(d.Why))
	if err != nil {
		c.errorf("encode decision: %v", err)
		return exitcode.Failure
	}
	r, err := c.env.Service.Create(c.ctx, mpa.NewRequest{
		Kind:              mpa.KindCommand,
		Actions:           mpawords.Actions(d.Actions),
		Target:            *target,
		Command:           line,
		Why:               why,
		Requester:         c.env.User,
		RequesterCert:     c.env.Cert,
		Reason:            *reason,
		RequiredApprovals: d.Quorum,
		Rules:             mpawords.Rules(d.Approvers),
		PendingTTL:        d.PendingTTL,
		ApprovalTTL:       d.ApprovalTTL,
	})
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		return c.writeJSON(r)
	}
	fmt.Fprintf(c.stdout(), "%s\nCreated request %s: %d approvals needed, expires %s.\n"+
		"Once approved, run it with: mpa requests run %s\n",
		c.decisionWords(line, d), r.ID, r.RequiredApprovals, fmtDeadline(r.ExpiresAt, c.env.Now()), r.ID)
	return exitcode.OK
}

func actionList(as []policy.ActionRef) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// joinCommand rebuilds the command line from the words after "--". One
// word is the line as typed (`-- 'kill -9 4242'`); several are joined,
// quoting those that need it so the line means what the words did.
func joinCommand(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runRequestsCancel(c *call, args []string) int {
	fs := c.flags()
	p, st, ok := c.parse(fs, args, 1, 1)
	if !ok {
		return st
	}
	if st := c.require(config.RoleAdmin, config.RoleApprover); st != exitcode.OK {
		return st
	}
	// Someone else's request that the caller may not see is not found,
	// as in view: a refusal would tell them the id is in use.
	if r, err := c.env.Service.Get(c.ctx, p.args[0]); err == nil && !c.seesRequest(r) {
		return c.fail(notFound("cancel", p.args[0]))
	}
	r, err := c.env.Service.Cancel(c.ctx, p.args[0], c.env.User)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout(), "Cancelled request %s\n", r.ID)
	return exitcode.OK
}

func runRequestsRun(c *call, args []string) int {
	fs := c.flags()
	p, st, ok := c.parse(fs, args, 1, 1)
	if !ok {
		return st
	}
	if st := c.require(config.RoleAdmin); st != exitcode.OK {
		return st
	}
	id := p.args[0]
	r, err := c.getRequest(id)
	if err != nil {
		return c.fail(err)
	}
	// The gate's release checks all this again in the transaction that
	// releases; checking here first keeps a non-requester from ever
	// reaching the code path that dials the target.
	switch {
	case r.Requester != c.env.User:
		return c.fail(fmt.Errorf("run %s: %w (%s)", id, mpa.ErrNotRequester, r.Requester))
	case r.Kind != mpa.KindCommand:
		return c.refused("run %s: a %s request is applied by keyturn when approved, not run", id, r.Kind)
	case r.Status == mpa.StatusRejected:
		return c.rejected(r)
	case r.Status != mpa.StatusApproved:
		return c.fail(fmt.Errorf("run %s: %w: it is %s (%d of %d approvals)", id, mpa.ErrNotApproved,
			r.Status, len(r.Approvals), r.RequiredApprovals))
	case c.env.Release == nil:
		c.errorf("run %s: this gate cannot release requests on this session", id)
		return exitcode.Failure
	}
	return c.env.Release(c.ctx, id)
}

// voteFlags are the flags approve and reject share.
type voteFlags struct {
	code, comment *string
}

func addVoteFlags(fs *flag.FlagSet, commentHelp string) voteFlags {
	return voteFlags{
		code:    fs.String(FlagTOTPCode, "", "the current `N` from your authenticator app"),
		comment: fs.String("comment", "", commentHelp),
	}
}

func runRequestsApprove(c *call, args []string) int {
	fs := c.flags()
	vf := addVoteFlags(fs, "comment `C`, recorded with your approval")
	validBefore := fs.String("valid-before", "", "your approval lapses at `TIME` (RFC 3339, or a duration from now like 2h)")
	asJSON := jsonFlag(fs)
	p, st, ok := c.parseVote(fs, args, vf)
	if !ok {
		return st
	}
	in := mpa.VoteInput{Code: *vf.code, Comment: *vf.comment}
	if *validBefore != "" {
		t, err := parseTime(*validBefore, c.env.Now(), +1)
		if err != nil {
			c.usageErr(fmt.Errorf("--valid-before: %w", err))
			return exitcode.Usage
		}
		in.ValidBefore = t
	}
	if st := c.require(config.RoleApprover); st != exitcode.OK {
		return st
	}
	r, err := c.env.Service.Approve(c.ctx, p.args[0], c.env.User, in)
	if err != nil {
		return c.failVote(err, c.env.User, p.args[0])
	}
	if *asJSON {
		return c.writeJSON(r)
	}
	w := c.stdout()
	switch r.Status {
	case mpa.StatusPending:
		fmt.Fprintf(w, "Approved %s: %d of %d approvals\n", r.ID, len(r.Approvals), r.RequiredApprovals)
	case mpa.StatusApproved:
		fmt.Fprintf(w, "Approved %s: %d of %d approvals; the request is approved and %s can run it until %s\n",
			r.ID, len(r.Approvals), r.RequiredApprovals, r.Requester, fmtTime(r.ExpiresAt))
	default:
		fmt.Fprintf(w, "Approved %s: %d of %d approvals; %s is %s\n",
			r.ID, len(r.Approvals), r.RequiredApprovals, describe(r), r.Status)
	}
	return exitcode.OK
}

func runRequestsReject(c *call, args []string) int {
	fs := c.flags()
	vf := addVoteFlags(fs, "comment `C`: why you reject it, shown to the requester (required)")
	asJSON := jsonFlag(fs)
	p, st, ok := c.parseVote(fs, args, vf)
	if !ok {
		return st
	}
	if strings.TrimSpace(*vf.comment) == "" {
		// A rejection ends the request for good; the requester needs to
		// know why before they try again.
		c.usageErr(errors.New("--comment is required: say why you reject it"))
		return exitcode.Usage
	}
	if st := c.require(config.RoleApprover); st != exitcode.OK {
		return st
	}
	r, err := c.env.Service.Reject(c.ctx, p.args[0], c.env.User, mpa.VoteInput{Code: *vf.code, Comment: *vf.comment})
	if err != nil {
		return c.failVote(err, c.env.User, p.args[0])
	}
	if *asJSON {
		return c.writeJSON(r)
	}
	fmt.Fprintf(c.stdout(), "Rejected %s\n", r.ID)
	return exitcode.OK
}

// parseVote parses a vote's flags and checks what approve and reject both
// need: one request ID, then a code.
func (c *call) parseVote(fs *flag.FlagSet, args []string, vf voteFlags) (parsed, int, bool) {
	p, st, ok := c.parse(fs, args, 1, -1)
	if !ok {
		return p, st, false
	}
	if st, ok := c.oneID(p, *vf.comment); !ok {
		return p, st, false
	}
	if *vf.code == "" {
		c.usageErr(errors.New("--totp-code is required"))
		return p, exitcode.Usage, false
	}
	return p, exitcode.OK, true
}

// oneID checks that a vote names one request. Extra words after a
// --comment are the comment's own words, split by the gate's shell-like
// parsing of what ssh sent: say how to quote it.
func (c *call) oneID(p parsed, comment string) (int, bool) {
	if len(p.args) == 1 {
		return exitcode.OK, true
	}
	if comment != "" {
		c.usageErr(errors.New(quotingHint(comment, p.args[1:])))
		return exitcode.Usage, false
	}
	c.usageErr(fmt.Errorf("unexpected argument %q", p.args[1]))
	return exitcode.Usage, false
}
