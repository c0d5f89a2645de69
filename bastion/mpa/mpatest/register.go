package mpatest

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Register makes user an approver through svc the way a person does:
// initiate, read a code for the issued secret from oathtool at now, and
// confirm it. MPA must be disabled, so the registration takes effect at
// once; anything else fails t. It returns the secret, for the user's
// later codes.
func Register(t testing.TB, ctx context.Context, svc *mpa.Service, user string, now time.Time) string {
	t.Helper()
	reg, err := svc.InitiateRegistration(ctx, user, false)
	if err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	a, held, err := svc.CompleteRegistration(ctx, user, Oathtool(t, reg.Secret, now))
	if err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	if held != nil || a.Status != mpa.Registered {
		t.Fatalf("register %s: held=%v status=%s; want registered at once", user, held, a.Status)
	}
	return reg.Secret
}
