package mpatest

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Approvers are a test's approvers on one service: their TOTP secrets,
// and the clock their codes are read at. The approval service's tests
// and the console's embed it in their fixtures.
type Approvers struct {
	t     testing.TB
	ctx   context.Context
	svc   *mpa.Service
	clock *Clock
	// Secrets holds each approver's secret by name: Register fills it; a
	// test that registers by hand adds the secret itself.
	Secrets map[string]string
}

// NewApprovers returns svc's approvers for t, none registered yet.
func NewApprovers(t testing.TB, ctx context.Context, svc *mpa.Service, clock *Clock) *Approvers {
	return &Approvers{t: t, ctx: ctx, svc: svc, clock: clock, Secrets: map[string]string{}}
}

// Code is user's current code by the clock, from oathtool.
func (a *Approvers) Code(user string) string {
	a.t.Helper()
	return Oathtool(a.t, a.Secrets[user], a.clock.Now())
}

// Step moves the clock to the next TOTP step, so an approver may use a
// fresh code.
func (a *Approvers) Step() { a.clock.Advance(30 * time.Second) }

// Register makes users approvers (MPA must be disabled, so at once; see
// [Register]), then steps the clock so their first codes are fresh.
func (a *Approvers) Register(users ...string) {
	a.t.Helper()
	for _, u := range users {
		a.Secrets[u] = Register(a.t, a.ctx, a.svc, u, a.clock.Now())
	}
	a.Step()
}
