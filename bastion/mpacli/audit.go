package mpacli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/termsafe"
)

func runAuditList(c *call, args []string) int {
	fs := c.flags()
	since := fs.String("since", "", "events at or after `TIME` (RFC 3339, or a duration back from now like 24h)")
	user := fs.String("user", "", "events by user `U`")
	request := fs.String("request", "", "events about request `ID`")
	asJSON := jsonFlag(fs)
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	f := audit.Filter{User: *user, Request: *request}
	if *since != "" {
		t, err := parseTime(*since, c.env.Now(), -1)
		if err != nil {
			c.usageErr(fmt.Errorf("--since: %w", err))
			return exitcode.Usage
		}
		f.Since = t
	}
	if st := c.require(readRoles...); st != exitcode.OK {
		return st
	}
	// Visibility is decided on the whole chain, in order (it learns who
	// made each request), and the caller's filter applied after it.
	vis := c.auditVisibility()
	events := []audit.Event{}
	for e, err := range c.env.Service.AuditEvents(c.ctx, audit.Filter{}) {
		if err != nil {
			return c.fail(err)
		}
		if vis.sees(e) && f.Match(e) {
			events = append(events, e)
		}
	}
	if *asJSON {
		return c.writeJSON(events)
	}
	tw := table(c.stdout())
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tACTOR\tREQUEST\tTARGET\tDATA")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", eventSeq(e), fmtTime(e.Time), e.Kind,
			dash(termsafe.String(e.Actor)), dash(termsafe.String(e.Request)), dash(termsafe.String(e.Target)),
			dash(termsafe.String(string(e.Data))))
	}
	tw.Flush()
	fmt.Fprintf(c.stdout(), "Total: %d\n", len(events))
	return exitcode.OK
}

func runAuditVerify(c *call, args []string) int {
	fs := c.flags()
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	if st := c.require(readRoles...); st != exitcode.OK {
		return st
	}
	heads, err := c.env.Service.VerifyAuditChains(c.ctx)
	if err != nil {
		var ce *audit.ChainError
		if errors.As(err, &ce) {
			fmt.Fprintf(c.stdout(), "audit chain is BROKEN: first bad event is %s (position %d): %s\n",
				chainSeq(ce), ce.Index, ce.Problem)
		}
		c.errorf("%v", err)
		return exitcode.Failure
	}
	// The verdict covers every chain up to the store's head for it and
	// every anchor between chains; the heads are printed for comparing
	// with an export later.
	for _, l := range audit.HeadLines(heads) {
		fmt.Fprintln(c.stdout(), l)
	}
	return exitcode.OK
}

// eventSeq is an event's number as list shows it: its sequence number,
// after its chain's name when the trail has one chain per gate (etcd),
// where the numbers of two gates' chains repeat each other.
func eventSeq(e audit.Event) string {
	if e.Chain == "" {
		return strconv.FormatUint(e.Seq, 10)
	}
	return termsafe.String(e.Chain) + "/" + strconv.FormatUint(e.Seq, 10)
}

// chainSeq names a bad event: "seq N", or "chain C seq N" with several
// chains.
func chainSeq(ce *audit.ChainError) string {
	if ce.Chain == "" {
		return fmt.Sprintf("seq %d", ce.Seq)
	}
	return fmt.Sprintf("chain %s seq %d", ce.Chain, ce.Seq)
}

func runAuditExport(c *call, args []string) int {
	fs := c.flags()
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	// The whole chain, every command line in it: for auditors only. (An
	// export has to be whole to verify offline.)
	if st := c.require(config.RoleAuditor); st != exitcode.OK {
		return st
	}
	if err := audit.WriteJSONL(c.stdout(), c.env.Service.AuditEvents(c.ctx, audit.Filter{})); err != nil {
		return c.fail(err)
	}
	return exitcode.OK
}
