package mpatest

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// Race runs fn(0) to fn(n-1) at once, each on its own goroutine, and
// returns their errors by index once all have returned: the tries of a
// race, whose winners and losers the test then counts ([Succeeded]).
func Race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errs
}

// Succeeded counts the tries of a race that succeeded (a nil error in
// errs) and fails t for every try that lost any other way than with one
// of losses; names[i] names try i in the message.
func Succeeded(t testing.TB, names []string, errs []error, losses ...error) int {
	t.Helper()
	n := 0
	for i, err := range errs {
		switch {
		case err == nil:
			n++
		case !slices.ContainsFunc(losses, func(l error) bool { return errors.Is(err, l) }):
			t.Errorf("%s: %v; want nil or one of %v", names[i], err, losses)
		}
	}
	return n
}
