package bastion

import (
	"context"
	"testing"
	"time"
)

// The owner's wait returns only once every running handler has returned,
// and a handler that would start after it began is refused.
func TestHandlerSetWaitsForRunningHandlers(t *testing.T) {
	var h handlerSet
	for range 2 {
		if !h.add() {
			t.Fatal("a handler refused before the gate stops")
		}
	}
	waited := make(chan int, 1)
	go func() { waited <- h.wait(context.Background()) }()
	// wait closes the set before it blocks: poll (bounded) until a new
	// handler is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("wait did not close the set within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	if h.add() {
		t.Fatal("a handler started after the owner began to wait")
	}
	h.done()
	select {
	case n := <-waited:
		t.Fatalf("wait returned (%d left) while a handler still ran", n)
	case <-time.After(50 * time.Millisecond):
	}
	h.done()
	select {
	case n := <-waited:
		if n != 0 {
			t.Fatalf("wait says %d handlers left after all returned", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return within 10s of the last handler's end")
	}
}

// A wait that runs out says how many handlers were left.
func TestHandlerSetWaitIsBounded(t *testing.T) {
	var h handlerSet
	h.add()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := h.wait(ctx); n != 1 {
		t.Fatalf("bounded wait says %d handlers left; want 1", n)
	}
	// The last handler's end after the wait gave up closes nothing twice.
	h.done()
	if n := h.wait(context.Background()); n != 0 {
		t.Fatalf("wait with no handler left says %d", n)
	}
}
