package policy

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Bounds on an approvers rule: a rule is read by people and checked at
// every vote by a matching whose cost grows with lines times count.
const (
	maxApproverLines = 16
	maxApproverCount = 32
)

// ApproverLine is one line of an action's approvers rule: Count distinct
// approvers from Group. Every line of a rule must be met, each by its own
// approvers: one person counts for one line only, even if in several
// groups.
type ApproverLine struct {
	Group string `json:"group"`
	Count int    `json:"count"`
}

// ApproverRule is the approvers rule of one action in a decision.
type ApproverRule struct {
	Action string         `json:"action"`
	Lines  []ApproverLine `json:"lines"`
}

// Groups returns the groups the actions' approvers rules name, each once,
// in file order: what a caller with the gate's config checks against its
// users (the policy has no config).
func (p *Policy) Groups() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range p.actions {
		for _, l := range a.Approvers {
			if !seen[l.Group] {
				seen[l.Group] = true
				out = append(out, l.Group)
			}
		}
	}
	return out
}

// GroupUse is where an approvers rule names a group.
type GroupUse struct {
	Group, Action string
	File          string
	Line, Col     int
}

// Pos is "file:line:col", as errors name positions.
func (u GroupUse) Pos() string { return fmt.Sprintf("%s:%d:%d", u.File, u.Line, u.Col) }

// GroupUses returns every place an approvers rule names a group, in file
// order, for a caller that checks them against its users.
func (p *Policy) GroupUses() []GroupUse {
	return append([]GroupUse(nil), p.groupUses...)
}

// approvers reads an action's approvers: list into a. Its required
// approvals become the sum of the lines' counts unless the action sets
// required_approvals itself (explicit is true), which must then be at
// least that sum: the rest may come from any approver.
func (d *decoder) approvers(p *Policy, n *yaml.Node, ctx string, a *Action, explicit bool) error {
	ctx += ": approvers"
	if n.Kind != yaml.SequenceNode {
		return d.errf(n, "%s: want a list of {group, count}, got %s", ctx, NodeKind(n))
	}
	if len(n.Content) == 0 {
		return d.errf(n, "%s: empty list (leave it out for any approver)", ctx)
	}
	if len(n.Content) > maxApproverLines {
		return d.errf(n, "%s: %d lines, more than %d", ctx, len(n.Content), maxApproverLines)
	}
	seen := map[string]bool{}
	sum := 0
	for i, ln := range n.Content {
		lctx := fmt.Sprintf("%s[%d]", ctx, i)
		f, err := d.fields(ln, lctx, "group", "count")
		if err != nil {
			return err
		}
		l := ApproverLine{Count: 1}
		r := d.reader(ln, f, lctx)
		g := required(r, "group", &l.Group, d.str)
		if r.err != nil {
			return r.err
		}
		if !validName(l.Group) {
			return d.errf(g, "%s: group %q: want lower case letters, digits, - and _", lctx, l.Group)
		}
		if seen[l.Group] {
			return d.errf(g, "%s: group %q has a line already; give it one line with the count it needs", lctx, l.Group)
		}
		seen[l.Group] = true
		if c := optional(r, "count", &l.Count, d.quorum); c != nil && l.Count > maxApproverCount {
			return d.errf(c, "%s: count %d is more than %d", lctx, l.Count, maxApproverCount)
		}
		if r.err != nil {
			return r.err
		}
		sum += l.Count
		a.Approvers = append(a.Approvers, l)
		p.groupUses = append(p.groupUses, GroupUse{Group: l.Group, Action: a.Name, File: d.file, Line: g.Line, Col: g.Column})
	}
	if !explicit {
		a.RequiredApprovals = sum
	} else if a.RequiredApprovals < sum {
		return d.errf(n, "%s: the lines need %d distinct approvers but required_approvals is %d; raise it or leave it out", ctx, sum, a.RequiredApprovals)
	}
	return nil
}

// approverRules returns the approvers rules of the decision's actions that
// have one, in the order of refs.
func (p *Policy) approverRules(refs []ActionRef) []ApproverRule {
	var out []ApproverRule
	for _, r := range refs {
		for i := range p.actions {
			a := &p.actions[i]
			if a.Name == r.Name && a.Service == r.Service && len(a.Approvers) > 0 {
				out = append(out, ApproverRule{Action: a.Name, Lines: append([]ApproverLine(nil), a.Approvers...)})
			}
		}
	}
	return out
}
