package conflict

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

func TestRetryGivesUpAtTheBound(t *testing.T) {
	err := Retry(context.Background(), MaxAttempts, time.Microsecond)
	if !errors.Is(err, mpa.ErrConflict) {
		t.Fatalf("attempt %d: %v; want ErrConflict", MaxAttempts, err)
	}
	if err := Retry(context.Background(), MaxAttempts-1, time.Microsecond); err != nil {
		t.Fatalf("attempt %d: %v; want a retry", MaxAttempts-1, err)
	}
}

// A cancelled context ends the wait with its error, not a retry; a step
// of an hour makes a wait that ends by itself fail the test by its bound.
func TestRetryEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Retry(ctx, 20, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry on a cancelled context: %v; want context.Canceled", err)
	}
}

// Run retries only what isConflict calls a conflict, numbers the attempts
// from 1, and stops at an ended ctx before the next attempt.
func TestRun(t *testing.T) {
	errBusy := errors.New("busy")
	isBusy := func(err error) bool { return errors.Is(err, errBusy) }
	var seen []int
	err := Run(context.Background(), time.Microsecond, isBusy, func(attempt int) error {
		seen = append(seen, attempt)
		if attempt < 3 {
			return errBusy
		}
		return nil
	})
	if err != nil || !slices.Equal(seen, []int{1, 2, 3}) {
		t.Fatalf("Run = %v after attempts %v; want nil after 1, 2, 3", err, seen)
	}

	other := errors.New("not a conflict")
	n := 0
	err = Run(context.Background(), time.Microsecond, isBusy, func(int) error { n++; return other })
	if !errors.Is(err, other) || n != 1 {
		t.Fatalf("Run = %v after %d attempts; want the error after 1", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = Run(ctx, time.Microsecond, isBusy, func(int) error { n++; cancel(); return errBusy })
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("Run = %v after %d attempts; want context.Canceled after 1", err, n)
	}

	n = 0
	err = Run(context.Background(), time.Nanosecond, isBusy, func(int) error { n++; return errBusy })
	if !errors.Is(err, mpa.ErrConflict) || n != MaxAttempts {
		t.Fatalf("Run = %v after %d attempts; want ErrConflict after %d", err, n, MaxAttempts)
	}
}
