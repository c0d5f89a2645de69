package mpatest

import "sync"

// Race runs fn(0) to fn(n-1) at once, each on its own goroutine, and
// returns their errors by index once all have returned: the tries of a
// race, whose winners and losers the test then counts.
func Race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errs
}
