package mpawords

import (
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// Actions is a policy decision's actions in mpa's terms, for the request
// that holds the command. mpa does not import policy (it stores what was
// decided, it does not decide), so the gate's hold flow and `mpa requests
// create` both translate here, the same way.
func Actions(refs []policy.ActionRef) []mpa.ActionRef {
	out := make([]mpa.ActionRef, len(refs))
	for i, r := range refs {
		out[i] = mpa.ActionRef{Name: r.Name, Service: r.Service}
	}
	return out
}

// Rules is a policy decision's approvers rules in mpa's terms: who must
// approve the request, line by line.
func Rules(rules []policy.ApproverRule) []mpa.GroupRule {
	var out []mpa.GroupRule
	for _, r := range rules {
		g := mpa.GroupRule{Action: r.Action}
		for _, l := range r.Lines {
			g.Lines = append(g.Lines, mpa.GroupLine{Group: l.Group, Count: l.Count})
		}
		out = append(out, g)
	}
	return out
}
