package mpatest

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
)

// Race runs every try once and returns each try's error at its index.
func TestRace(t *testing.T) {
	var ran atomic.Int64
	errs := Race(9, func(i int) error {
		ran.Add(1)
		if i%3 == 0 {
			return errors.New(strconv.Itoa(i))
		}
		return nil
	})
	if len(errs) != 9 || ran.Load() != 9 {
		t.Fatalf("%d errors from %d tries; want 9 from 9", len(errs), ran.Load())
	}
	for i, err := range errs {
		if want := i%3 == 0; (err != nil) != want || want && err.Error() != strconv.Itoa(i) {
			t.Errorf("try %d: %v", i, err)
		}
	}
}
