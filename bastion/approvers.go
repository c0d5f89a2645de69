package bastion

import (
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/policy"
)

// eligibleApprovers counts the approvers who could vote on a request by
// requester: registered, holding the approver role in the config, and not
// the requester. A locked-out approver counts: the lock ends by itself.
func eligibleApprovers(cfg *config.Config, approvers []mpa.Approver, requester string) int {
	n := 0
	for _, a := range approvers {
		if a.Status != mpa.Registered || a.Name == requester {
			continue
		}
		if u, ok := cfg.User(a.Name); ok && u.HasRole(config.RoleApprover) {
			n++
		}
	}
	return n
}

// CheckApproverGroups cross-checks the policy's approvers rules with the
// config's users, where the two meet (the policy has no config): a rule
// naming a group no user is in is an error (a typo would otherwise hold
// its requests for good); a line whose group has fewer users with the
// approver role than its count, or a rule whose groups together have
// fewer than its lines need, is a warning (its requests are refused until
// the config gives the groups more approvers).
func CheckApproverGroups(cfg *config.Config, p *policy.Policy) (errs, warnings []string) {
	for _, u := range p.GroupUses() {
		if !cfg.HasGroup(u.Group) {
			errs = append(errs, fmt.Sprintf("%s: action %q: approvers: group %q: no user in %s is in it (give users groups: [%s])",
				u.Pos(), u.Action, u.Group, cfg.Path(), u.Group))
		}
	}
	for _, a := range p.Actions() {
		if len(a.Approvers) == 0 {
			continue
		}
		union := map[string]bool{}
		need, short := 0, false
		for _, l := range a.Approvers {
			members := cfg.GroupApprovers(l.Group)
			for _, m := range members {
				union[m] = true
			}
			need += l.Count
			if len(members) < l.Count {
				short = true
				if cfg.HasGroup(l.Group) { // else an error above
					warnings = append(warnings, fmt.Sprintf("action %s needs %s from group %s but %s",
						a.Name, plural(l.Count, "approver"), l.Group, groupHas(len(members))))
				}
			}
		}
		// Each group may have enough, and together too few: one person
		// in two groups counts once.
		if !short && len(union) < need {
			warnings = append(warnings, fmt.Sprintf("action %s needs %d distinct approvers from its groups but they have only %s with the approver role (one person counts once); its requests are refused",
				a.Name, need, plural(len(union), "user")))
		}
	}
	return errs, warnings
}

func groupHas(n int) string {
	switch n {
	case 0:
		return "it has no user with the approver role"
	case 1:
		return "it has only 1 user with the approver role"
	}
	return fmt.Sprintf("it has only %d users with the approver role", n)
}

// rulesText says who must approve: "delete_snapshot: 1 from storage and
// 1 from security".
func rulesText(rules []mpa.GroupRule) string {
	parts := make([]string, 0, len(rules))
	for _, r := range rules {
		lines := make([]string, 0, len(r.Lines))
		for _, l := range r.Lines {
			lines = append(lines, fmt.Sprintf("%d from %s", l.Count, l.Group))
		}
		parts = append(parts, r.Action+": "+strings.Join(lines, " and "))
	}
	return strings.Join(parts, "; ")
}
