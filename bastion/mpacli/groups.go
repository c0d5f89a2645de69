package mpacli

import (
	"fmt"
	"io"
	"strings"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// notForMe reports whether the caller, an approver, cannot help the
// pending request r: it has approvers rules and no line it still needs is
// one of the caller's groups. Requests the caller made or voted on are
// not marked: they are theirs, or done with.
func (c *call) notForMe(r mpa.Request) bool {
	if r.Status != mpa.StatusPending || len(r.Rules) == 0 || !c.hasRole(config.RoleApprover) ||
		r.Requester == c.env.User || voted(r, c.env.User) {
		return false
	}
	return !c.env.Service.CanHelp(r, c.env.User)
}

func voted(r mpa.Request, user string) bool {
	for _, vs := range [][]mpa.Vote{r.Approvals, r.Rejections} {
		for _, v := range vs {
			if v.Approver == user {
				return true
			}
		}
	}
	return false
}

// writeProgress prints r's lines (met or not, and by whom) and who can
// still approve it, for requests with approvers rules.
func (c *call) writeProgress(w io.Writer, r mpa.Request) error {
	if len(r.Rules) == 0 {
		return nil
	}
	p, err := c.env.Service.Progress(c.ctx, r)
	if err != nil {
		return err
	}
	for _, l := range p.Lines {
		state := "needs more"
		if l.Met() {
			state = "met"
		}
		fmt.Fprintf(w, "line:\t%s: %s\n", l.String(), state)
	}
	if r.Status == mpa.StatusPending {
		who := "nobody registered (the request cannot be approved as the groups stand)"
		if len(p.CanHelp) > 0 {
			who = strings.Join(p.CanHelp, ", ")
		}
		if p.Met() {
			who = "-"
		}
		fmt.Fprintf(w, "can still approve:\t%s\n", who)
		if c.notForMe(r) {
			fmt.Fprintf(w, "you:\tcannot help: none of the lines it still needs is one of your groups\n")
		}
	}
	return nil
}
