package audit

import (
	"iter"
	"time"
)

// Filter selects events for listing. Zero fields match everything.
type Filter struct {
	Since   time.Time // events at or after this time
	User    string    // events whose Actor is this user
	Request string    // events about this request
}

// Match reports whether e passes f.
func (f Filter) Match(e Event) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if f.User != "" && e.Actor != f.User {
		return false
	}
	if f.Request != "" && e.Request != f.Request {
		return false
	}
	return true
}

// Filtered yields the events of src that match f, and every error.
func Filtered(src iter.Seq2[Event, error], f Filter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for e, err := range src {
			if err != nil || f.Match(e) {
				if !yield(e, err) {
					return
				}
			}
		}
	}
}
