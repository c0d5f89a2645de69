package mpacli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpawords"
)

func runInitiateRegistration(c *call, args []string) int {
	fs := c.flags()
	force := fs.Bool("force", false, "replace the secret of an already registered approver (re-registration)")
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	// The role is checked here, not only by the service, because the
	// service lets any name register: it is the gate that knows who may
	// be an approver.
	if st := c.require(config.RoleApprover); st != exitcode.OK {
		return st
	}
	reg, err := c.env.Service.InitiateRegistration(c.ctx, c.env.User, *force)
	if err != nil {
		return c.fail(err)
	}
	w := c.stdout()
	fmt.Fprintf(w, "Initiated registration for %s. Load the secret into an authenticator app\n"+
		"(scan the QR code below, or enter the secret or the URL), then run:\n\n"+
		"    mpa complete-registration --totp-code <code>\n\n", reg.User)
	algorithm, digits, period := "SHA1", "6", "30"
	if u, err := url.Parse(reg.URL); err == nil {
		q := u.Query()
		algorithm, digits, period = or(q.Get("algorithm"), algorithm), or(q.Get("digits"), digits), or(q.Get("period"), period)
	}
	tw := table(w)
	for _, kv := range [][2]string{
		{"account", reg.User}, {"issuer", reg.Issuer}, {"algorithm", algorithm},
		{"digits", digits}, {"period", period}, {"secret", reg.Secret}, {"url", reg.URL},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	fmt.Fprintln(w)
	mpawords.QR(w, reg.URL)
	return exitcode.OK
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runCompleteRegistration(c *call, args []string) int {
	fs := c.flags()
	code := fs.String(FlagTOTPCode, "", "the current `N` from your authenticator app")
	if _, st, ok := c.parse(fs, args, 0, 0); !ok {
		return st
	}
	if *code == "" {
		c.usageErr(errors.New("--totp-code is required"))
		return exitcode.Usage
	}
	if st := c.require(config.RoleApprover); st != exitcode.OK {
		return st
	}
	a, held, err := c.env.Service.CompleteRegistration(c.ctx, c.env.User, *code)
	if err != nil {
		return c.failVote(err, c.env.User, "")
	}
	w := c.stdout()
	if held != nil {
		fmt.Fprintf(w, "Registration confirmed for %s, but MPA is enabled: it is held as request %s.\n"+
			"It needs %d approvals from existing approvers:\n\n"+
			"    mpa requests approve %s --totp-code <code>\n\n"+
			"%s counts as an approver only once it is approved.\n",
			a.Name, held.ID, held.RequiredApprovals, held.ID, a.Name)
		return exitcode.OK
	}
	fmt.Fprintf(w, "Approver registered: %s\n", a.Name)
	fmt.Fprintf(w, "Note: %s.\n", nextCode(a.LastStep, c.env.Now()))
	return exitcode.OK
}
