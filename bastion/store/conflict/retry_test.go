package conflict

import (
	"context"
	"errors"
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
