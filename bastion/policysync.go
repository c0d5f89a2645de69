package bastion

import (
	"context"
	"errors"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// releaseAttempts bounds how often a release reloads the policy on record
// and tries again: each attempt that finds the policy changed again means
// another approved change went in meanwhile.
const releaseAttempts = 3

// beginExecution is mpa.BeginExecution with the policy kept in step: a
// release refused because this gate's policy is not the one on record
// loads the record and tries again, so that the release happens under
// the approved policy (which release then applies: a line it denies is
// not run). If the record cannot be loaded, the release stays refused.
func (g *Gate) beginExecution(ctx context.Context, reqID, user string) (mpa.Request, error) {
	for attempt := 1; ; attempt++ {
		r, err := g.mpa.BeginExecution(ctx, reqID, user)
		if !errors.Is(err, mpa.ErrPolicyStale) || attempt == releaseAttempts {
			return r, err
		}
		h, ok := g.policy.(*PolicyHolder)
		if !ok {
			return r, err
		}
		if serr := syncPolicy(ctx, h, g.mpa, g.log); serr != nil {
			g.log.Error("could not load the approved policy on record; release refused", "request", reqID, "err", serr)
			return r, errors.Join(err, serr)
		}
	}
}
