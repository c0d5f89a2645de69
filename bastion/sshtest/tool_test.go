package sshtest

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder stands in for the test Tool and LookTool are given, to see what
// they do to it: Fatalf and Skipf end the goroutine, as testing's do.
type recorder struct {
	testing.TB
	errors, fatals, skips []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skips = append(r.skips, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// call runs f on a recorder in a goroutine of its own (Goexit ends it).
func call(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

const missing = "keyturn-no-such-program"

func TestToolAndLookTool(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			var got string
			var ok bool
			if r := call(t, func(tb testing.TB) { got = Tool(tb, "sh") }); got == "" || len(r.errors)+len(r.fatals)+len(r.skips) != 0 {
				t.Errorf("Tool(sh) = %q, %+v; want a path and nothing else", got, r)
			}
			if r := call(t, func(tb testing.TB) { got, ok = LookTool(tb, "sh") }); !ok || got == "" || len(r.errors) != 0 {
				t.Errorf("LookTool(sh) = %q, %v, %+v; want a path", got, ok, r)
			}
			reached := false
			r := call(t, func(tb testing.TB) { Tool(tb, missing); reached = true })
			if reached {
				t.Errorf("Tool(%s) returned", missing)
			}
			if ci == "true" && (len(r.fatals) != 1 || len(r.skips) != 0) {
				t.Errorf("under CI, Path of a missing program: %+v; want a failure", r)
			}
			if ci == "" && (len(r.skips) != 1 || len(r.fatals) != 0) {
				t.Errorf("outside CI, Path of a missing program: %+v; want a skip", r)
			}
			r = call(t, func(tb testing.TB) { got, ok = LookTool(tb, missing); reached = true })
			if ok || got != "" || !reached {
				t.Errorf("LookTool(%s) = %q, %v (returned %v); want \"\", false, returned", missing, got, ok, reached)
			}
			if want := map[string]int{"": 0, "true": 1}[ci]; len(r.errors) != want || len(r.fatals)+len(r.skips) != 0 {
				t.Errorf("Look of a missing program with CI=%q: %+v; want %d errors and nothing else", ci, r, want)
			}
		})
	}
}
