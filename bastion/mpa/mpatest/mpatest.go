// Package mpatest holds what tests of the approval service and its clients
// share: a clock tests move by hand, TOTP codes from the real oathtool
// binary, so the codes under test come from an authenticator the code under
// test did not write, approvers registered with those codes ([Register]),
// tries run at once ([Race]) and a released run ended with its output kept
// ([FinishWithOutput]).
package mpatest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clock is an injected clock that only moves when a test advances it.
// It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as mpa.Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Oathtool returns the TOTP code for the base32 secret at time at, computed
// by the oathtool binary. Without oathtool the test is skipped, except in
// CI (CI=true), where it fails: CI installs oathtool.
func Oathtool(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("oathtool is required in CI: %v", err)
		}
		t.Skipf("oathtool not installed: %v", err)
	}
	out, err := exec.Command(path, "--totp", "-b", secret,
		"--now", at.UTC().Format("2006-01-02 15:04:05 UTC")).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}
