package server

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// Layers stop in reverse: each layer's loops have all returned before
// the layer started before it is told to stop, so a loop never outlives
// what it reads (the store closes after the last layer).
func TestLoopsStopInReverse(t *testing.T) {
	var mu sync.Mutex
	var events []string
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	loop := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			<-ctx.Done()
			// A slow stop: the next layer down must still wait for it.
			time.Sleep(10 * time.Millisecond)
			note(name + " stopped")
		}
	}
	var ls loops
	ls.start(context.Background(), loop("policy"))
	ls.start(context.Background(), loop("expiry"), loop("gone"))
	ls.start(context.Background(), loop("metrics"))
	stopped := make(chan struct{})
	go func() { ls.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("loops did not stop within a minute")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 || events[0] != "metrics stopped" || events[3] != "policy stopped" ||
		!slices.Contains(events[1:3], "expiry stopped") || !slices.Contains(events[1:3], "gone stopped") {
		t.Fatalf("stop order %v; want metrics, then expiry and gone (either order), then policy", events)
	}
	ls.stop() // again: nothing left, returns
}

// A loop started on a context that ends stops with it, and stop still
// waits for it.
func TestLoopsFollowParent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var ls loops
	ls.start(ctx, func(ctx context.Context) { <-ctx.Done(); close(done) })
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the loop did not see its parent end within a minute")
	}
	ls.stop()
}
