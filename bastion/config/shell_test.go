package config

import (
	"strings"
	"testing"
)

// A target's shell: is put in a command line unquoted, so only a plain
// absolute path is accepted.
func TestTargetShell(t *testing.T) {
	good := mustRead(t, "testdata/good.yaml")
	at := strings.Index(good, "\ntargets:\n  - name: ")
	if at < 0 {
		t.Fatal("testdata/good.yaml has no target list")
	}
	at += len("\ntargets:\n")
	with := func(shell string) string {
		return good[:at] + "  - shell: " + shell + "\n    name:" + good[at+len("  - name:"):]
	}
	c, err := Parse("testdata/good.yaml", []byte(with("/usr/local/bin/bash")))
	if err != nil {
		t.Fatalf("Parse with shell: %v", err)
	}
	if c.Targets[0].Shell != "/usr/local/bin/bash" {
		t.Errorf("Targets[0].Shell = %q", c.Targets[0].Shell)
	}
	for _, bad := range []string{"bash", "'/bin/bash; kill 1'", "/bin/ba sh", "\"/bin/$(x)\""} {
		_, err := Parse("testdata/bad.yaml", []byte(with(bad)))
		if err == nil || !strings.Contains(err.Error(), "shell: want an absolute path") {
			t.Errorf("Parse with shell %s: err = %v; want a shell error", bad, err)
		}
	}
}
