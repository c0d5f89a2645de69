package mpacli

import (
	"fmt"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// approverOut is what approvers list and view show. It names its fields
// instead of printing mpa.Approver so that no secret or TOTP counter can
// reach the output, whatever mpa adds to that type later.
type approverOut struct {
	Name         string             `json:"name"`
	Status       mpa.ApproverStatus `json:"status"`
	Created      time.Time          `json:"created"`
	RegisteredAt time.Time          `json:"registered_at,omitzero"`
	Request      string             `json:"request,omitempty"`
	LockedUntil  time.Time          `json:"locked_until,omitzero"`
}

func approverView(a mpa.Approver, now time.Time) approverOut {
	o := approverOut{Name: a.Name, Status: a.Status, Created: a.Created,
		RegisteredAt: a.RegisteredAt, Request: a.Request}
	if now.Before(a.LockedUntil) {
		o.LockedUntil = a.LockedUntil
	}
	return o
}

func runApproversList(c *call, args []string) int {
	_, asJSON, st, ok := c.readCommand(args, 0, 0)
	if !ok {
		return st
	}
	as, err := c.env.Service.Approvers(c.ctx)
	if err != nil {
		return c.fail(err)
	}
	now := c.env.Now()
	out := make([]approverOut, 0, len(as))
	for _, a := range as {
		out = append(out, approverView(a, now))
	}
	if asJSON {
		return c.writeJSON(out)
	}
	tw := table(c.stdout())
	fmt.Fprintln(tw, "NAME\tSTATUS\tREGISTERED\tREQUEST\tLOCKED UNTIL")
	for _, a := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Status, fmtTime(a.RegisteredAt), dash(a.Request), fmtTime(a.LockedUntil))
	}
	tw.Flush()
	fmt.Fprintf(c.stdout(), "Total: %d\n", len(out))
	return exitcode.OK
}

func runApproversView(c *call, args []string) int {
	p, asJSON, st, ok := c.readCommand(args, 1, 1)
	if !ok {
		return st
	}
	a, err := c.env.Service.Approver(c.ctx, p.args[0])
	if err != nil {
		return c.fail(err)
	}
	o := approverView(a, c.env.Now())
	if asJSON {
		return c.writeJSON(o)
	}
	tw := table(c.stdout())
	fmt.Fprintf(tw, "name:\t%s\nstatus:\t%s\ncreated:\t%s\nregistered:\t%s\n",
		o.Name, o.Status, fmtTime(o.Created), fmtTime(o.RegisteredAt))
	if o.Request != "" {
		fmt.Fprintf(tw, "request:\t%s\n", o.Request)
	}
	if !o.LockedUntil.IsZero() {
		fmt.Fprintf(tw, "locked until:\t%s\n", fmtTime(o.LockedUntil))
	}
	tw.Flush()
	return exitcode.OK
}
