package bastion

import (
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
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
