package config

import (
	"fmt"
	"regexp"
	"slices"
)

// groupName is how a policy's approvers rule names a group (the policy
// allows the same: lower case letters, digits, '-' and '_').
var groupName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// maxGroups bounds a user's groups: every vote checks them.
const maxGroups = 64

// InGroup reports whether the user is in group.
func (u *User) InGroup(group string) bool { return slices.Contains(u.Groups, group) }

// InGroup reports whether the named user is in group; an unknown user is
// in none.
func (c *Config) InGroup(user, group string) bool {
	u, ok := c.User(user)
	return ok && u.InGroup(group)
}

// GroupApprovers returns the users with the approver role in group.
func (c *Config) GroupApprovers(group string) []string {
	var out []string
	for i := range c.Users {
		u := &c.Users[i]
		if u.HasRole(RoleApprover) && u.InGroup(group) {
			out = append(out, u.Name)
		}
	}
	return out
}

// HasGroup reports whether any user is in group.
func (c *Config) HasGroup(group string) bool {
	for i := range c.Users {
		if c.Users[i].InGroup(group) {
			return true
		}
	}
	return false
}

func (v *validator) checkGroups(u *User, p string) {
	if len(u.Groups) > maxGroups {
		v.errorf(v.at(p+".groups"), "%s.groups: %d groups, more than %d", p, len(u.Groups), maxGroups)
		return
	}
	seen := map[string]bool{}
	for j, g := range u.Groups {
		gp := fmt.Sprintf("%s.groups[%d]", p, j)
		switch {
		case !groupName.MatchString(g):
			v.errorf(v.at(gp), "%s: group %q: want lower case letters, digits, '-' and '_'", gp, g)
		case seen[g]:
			v.errorf(v.at(gp), "%s: group %q listed twice", gp, g)
		}
		seen[g] = true
	}
}
