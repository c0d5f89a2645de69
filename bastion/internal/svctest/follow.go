package svctest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// Follow runs run, a follower of the store's changes (Metrics.Follow,
// Notifier.Run), on its own goroutine under a context derived from ctx,
// and returns once ready is closed: the follower has subscribed, so a
// change committed after Follow returns reaches it. It fails the test,
// naming what, if run ends first or ready is not closed within
// mpatest.Bound.
//
// stop cancels run's context and waits for run to end; an error other
// than the context's fails the test. stop also runs when the test ends;
// calling it again does nothing.
func Follow(t *testing.T, ctx context.Context, what string, ready <-chan struct{}, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("%s ended before it followed the store: %v", what, err)
	case <-time.After(mpatest.Bound):
		cancel()
		t.Fatalf("gave up after %v waiting for %s to follow the store", mpatest.Bound, what)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := mpatest.Recv(t, done, what+" to end with its context"); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s = %v; want it to end with its context", what, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
