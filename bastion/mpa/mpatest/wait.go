package mpatest

import (
	"testing"
	"time"
)

// Bound is how long a test waits for something that must happen (a
// change, a goroutine's result) before it fails with a message instead of
// hanging until the test binary's timeout. It is a bound on a hang, not a
// speed goal: a loaded machine under -race still finishes far inside it.
const Bound = 30 * time.Second

// Recv receives one value from ch, or fails t saying what it waited for
// if nothing arrives within Bound or ch is closed first.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("waiting for %s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("gave up after %v waiting for %s", Bound, what)
	}
	panic("unreachable")
}

// Closed waits until ch is closed (or yields a value), or fails t saying
// what it waited for once Bound has passed.
func Closed[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("gave up after %v waiting for %s", Bound, what)
	}
}
