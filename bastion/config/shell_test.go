package config

import (
	"strconv"
	"strings"
	"testing"
)

// goodFirstTarget reads testdata/good.yaml and returns it, a function
// that returns it with field (say "shell: /bin/bash") as the first line of
// its first target, and the number of that line.
func goodFirstTarget(t *testing.T) (good string, with func(field string) string, line int) {
	t.Helper()
	good = mustRead(t, "testdata/good.yaml")
	at := strings.Index(good, "\ntargets:\n  - name: ")
	if at < 0 {
		t.Fatal("testdata/good.yaml has no target list")
	}
	at += len("\ntargets:\n")
	with = func(field string) string {
		return good[:at] + "  - " + field + "\n    name:" + good[at+len("  - name:"):]
	}
	return good, with, strings.Count(good[:at], "\n") + 1
}

// A target's shell: is put in a command line unquoted, so only a plain
// absolute path is accepted.
func TestTargetShell(t *testing.T) {
	_, with, _ := goodFirstTarget(t)
	c, err := Parse("testdata/good.yaml", []byte(with("shell: /usr/local/bin/bash")))
	if err != nil {
		t.Fatalf("Parse with shell: %v", err)
	}
	if c.Targets[0].Shell != "/usr/local/bin/bash" {
		t.Errorf("Targets[0].Shell = %q", c.Targets[0].Shell)
	}
	for _, bad := range []string{"bash", "'/bin/bash; kill 1'", "/bin/ba sh", "\"/bin/$(x)\""} {
		_, err := Parse("testdata/bad.yaml", []byte(with("shell: "+bad)))
		if err == nil || !strings.Contains(err.Error(), "shell: want an absolute path") {
			t.Errorf("Parse with shell %s: err = %v; want a shell error", bad, err)
		}
	}
}

// shell_wrapper: auto by default, always on request, anything else an
// error at its place in the file.
func TestTargetShellWrapper(t *testing.T) {
	good, with, line := goodFirstTarget(t)
	c, err := Parse("testdata/good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Targets[0].ShellWrapper; got != ShellWrapperAuto {
		t.Errorf("default shell_wrapper = %q; want %q", got, ShellWrapperAuto)
	}
	for _, v := range []string{ShellWrapperAuto, ShellWrapperAlways} {
		c, err := Parse("testdata/good.yaml", []byte(with("shell_wrapper: "+v)))
		if err != nil {
			t.Fatalf("shell_wrapper %s: %v", v, err)
		}
		if got := c.Targets[0].ShellWrapper; got != v {
			t.Errorf("shell_wrapper = %q; want %q", got, v)
		}
	}
	for _, bad := range []string{"never", "Always", "'no'", "yes"} {
		_, err := Parse("testdata/bad.yaml", []byte(with("shell_wrapper: "+bad)))
		want := "testdata/bad.yaml:" + strconv.Itoa(line) + ":20: target \"web-1\": shell_wrapper: want auto or always"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shell_wrapper %s: err = %v; want %q", bad, err, want)
		}
	}
}
