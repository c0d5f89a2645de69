package mpacli

import (
	"fmt"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Who sees what. A command line can hold anything its author typed,
// passwords included, and a request's reason can be confidential: an
// admin sees only their own requests and their own audit events; an
// approver also sees every request they may approve (the approver role
// covers every request today) and its events, since judging it is their
// job; an auditor sees everything and changes nothing. The console shows
// the same: non-approvers see their own requests only.

// readRoles may use the read-only commands (lists, views, audit).
var readRoles = []config.Role{config.RoleAdmin, config.RoleApprover, config.RoleAuditor}

// seesAll reports whether the caller may see every request and event.
func (c *call) seesAll() bool { return c.hasRole(config.RoleAuditor) }

// seesRequest reports whether the caller may see r.
func (c *call) seesRequest(r mpa.Request) bool {
	return c.seesAll() || r.Requester == c.env.User || c.hasRole(config.RoleApprover)
}

// notFound is what a caller who may not see a request is told: the same
// as for a request that does not exist, so ids cannot be probed.
// op is the service call whose not-found error it imitates ("get",
// "cancel").
func notFound(op, id string) error {
	return fmt.Errorf("%s %s: request %s: %w", op, id, id, mpa.ErrNotFound)
}

// getRequest is the service's Get as the caller may see it: a request
// they may not see is not found, as one that does not exist.
func (c *call) getRequest(id string) (mpa.Request, error) {
	r, err := c.env.Service.Get(c.ctx, id)
	if err == nil && !c.seesRequest(r) {
		return mpa.Request{}, notFound("get", id)
	}
	return r, err
}

// auditVisibility decides, event by event in chain order, which events the
// caller may see. It learns each request's requester from its
// request.created event, which always comes before the request's other
// events.
type auditVisibility struct {
	c    *call
	mine map[string]bool // requests the caller made
}

func (c *call) auditVisibility() *auditVisibility {
	return &auditVisibility{c: c, mine: map[string]bool{}}
}

// sees reports whether the caller may see e; call it for every event in
// chain order, before any filter.
func (v *auditVisibility) sees(e audit.Event) bool {
	c := v.c
	if e.Kind == audit.KindRequestCreated && e.Request != "" && e.Actor == c.env.User {
		v.mine[e.Request] = true
	}
	switch {
	case c.seesAll(), e.Actor == c.env.User:
		return true
	case e.Request != "":
		return v.mine[e.Request] || c.hasRole(config.RoleApprover)
	case e.Actor == mpa.SystemActor:
		// What keyturn does by itself (a recorded policy, a sweep) carries
		// no one's command line.
		return c.hasRole(config.RoleApprover)
	}
	return false
}
