package sshtest

import (
	"os"
	"os/exec"
	"testing"
)

// inCI reports whether the tests run under CI, where every tool is
// installed and a missing one is a failure.
func inCI() bool { return os.Getenv("CI") == "true" }

// Tool returns the path of the program name, which the test cannot do
// without: if it is not installed the test is skipped, or under CI fails.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Fatalf("%s is required under CI (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return p
}

// LookTool returns the path of the program name, for a test that tries every
// one of a list that is installed (the shells a login may have): ok is
// false if it is not. Under CI a missing one also fails the test, without
// stopping it, so that one run names every program .ci/run missed.
func LookTool(t testing.TB, name string) (path string, ok bool) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Errorf("%s is required under CI (.ci/run installs it): %v", name, err)
		}
		return "", false
	}
	return p, true
}
