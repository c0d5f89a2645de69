package mpatest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// errorsSeen is a testing.TB that keeps what Errorf reports instead of
// failing the test, to check that a helper fails its test.
type errorsSeen struct {
	testing.TB
	msgs []string
}

func (e *errorsSeen) Helper() {}
func (e *errorsSeen) Errorf(format string, args ...any) {
	e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
}

// Succeeded counts the nil errors, takes the expected losses quietly and
// reports any other error under the try's name.
func TestSucceeded(t *testing.T) {
	lost, other := errors.New("lost"), errors.New("broken")
	names := []string{"a", "b", "c", "d"}
	seen := &errorsSeen{TB: t}
	n := Succeeded(seen, names, []error{nil, fmt.Errorf("wrapped: %w", lost), nil, other}, lost)
	if n != 2 {
		t.Errorf("Succeeded = %d; want 2", n)
	}
	if len(seen.msgs) != 1 || !strings.HasPrefix(seen.msgs[0], "d: broken") {
		t.Errorf("reported %q; want one error, for d", seen.msgs)
	}
}
