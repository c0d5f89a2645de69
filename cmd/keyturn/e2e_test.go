package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/keyturn/keyturn/cmd/internal/localsshd"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestE2E drives the real keyturn binary with the real OpenSSH client
// against real sshd targets on loopback. Without those tools it skips on a
// developer's machine and fails in CI, where .ci/run installs them.
func TestE2E(t *testing.T) {
	requireTools(t, "ssh", "sshd", "ssh-keygen", "oathtool", "tmux", "curl")
	testscript.Run(t, scriptParams(t, "testdata/e2e"))
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		if err != nil && tool == "sshd" {
			_, err = localsshd.Path()
		}
		if err == nil {
			continue
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required for the end-to-end tests and missing (.ci/run installs it): %v", tool, err)
		}
		t.Skipf("%s not installed; skipping end-to-end tests (CI fails instead)", tool)
	}
}
