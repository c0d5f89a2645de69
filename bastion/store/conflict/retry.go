package conflict

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// MaxAttempts bounds how often one Update runs its function. Each retry
// means another writer committed first, so progress is guaranteed
// system-wide; the bound only stops a pathological livelock from hanging
// a session.
const MaxAttempts = 200

// Retry is called after attempt (counting from 1) of an Update conflicted.
// Once MaxAttempts have run it returns an error wrapping [mpa.ErrConflict];
// otherwise it waits a random time below min(attempt, 20) steps, so a
// crowd of racing writers spreads out instead of colliding in lockstep,
// and returns nil to retry, or ctx's error if ctx ends first.
func Retry(ctx context.Context, attempt int, step time.Duration) error {
	if attempt >= MaxAttempts {
		return fmt.Errorf("%w: gave up after %d attempts", mpa.ErrConflict, attempt)
	}
	d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(step)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run calls try with the attempt's number (from 1) until it returns an
// error isConflict does not call a conflict (nil included), waiting
// between attempts as [Retry] does and giving up as it does. A ctx that
// has ended stops it before the next attempt.
func Run(ctx context.Context, step time.Duration, isConflict func(error) bool, try func(attempt int) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := try(attempt)
		if !isConflict(err) {
			return err
		}
		if err := Retry(ctx, attempt, step); err != nil {
			return err
		}
	}
}
