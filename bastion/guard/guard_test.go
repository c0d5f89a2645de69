package guard

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/guard/trace"
	"github.com/keyturn/keyturn/policy"
)

func shipped(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("../../policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeciderExec(t *testing.T) {
	d := &Decider{Policy: shipped(t), Target: "t1"}
	for _, tc := range []struct {
		im   trace.Image
		want []string
	}{
		{trace.Image{Exe: "/usr/bin/kill", Argv: []string{"kill", "4242"}}, []string{"kill_process"}},
		// A renamed copy run under kill's name, and kill's binary under
		// another name: either name counts.
		{trace.Image{Exe: "/tmp/x", Argv: []string{"kill", "1"}}, []string{"kill_process"}},
		{trace.Image{Exe: "/usr/bin/kill", Argv: []string{"innocent", "1"}}, []string{"kill_process"}},
		{trace.Image{Exe: "/usr/sbin/zfs", Argv: []string{"zfs", "destroy", "tank@s1"}}, []string{"delete_snapshot"}},
		// Wrappers are seen through in argv as on a line.
		{trace.Image{Exe: "/usr/bin/env", Argv: []string{"env", "kill", "1"}}, []string{"kill_process"}},
		{trace.Image{Exe: "/usr/bin/sh", Argv: []string{"sh", "-c", "kill 1"}}, []string{"kill_process"}},
		// Quotes in argv are data, not shell syntax.
		{trace.Image{Exe: "/usr/bin/echo", Argv: []string{"echo", "'; kill 1; '"}}, nil},
		{trace.Image{Exe: "/usr/bin/zfs", Argv: []string{"zfs", "list"}}, nil},
		// Unresolved is not an action: the guard sees what python does.
		{trace.Image{Exe: "/usr/bin/python3", Argv: []string{"python3", "-c", "x"}}, nil},
		// A signal action the matcher guesses from code it cannot read is
		// left to the signal trap, which sees the act and its target...
		{trace.Image{Exe: "/usr/bin/python3", Argv: []string{"python3", "-c", "import os; os.kill(1, 15)"}}, nil},
		// ...but a guessed action the guard has no trap for blocks here.
		{trace.Image{Exe: "/usr/bin/python3", Argv: []string{"python3", "-c", `import subprocess; subprocess.run(["zfs", "destroy", "tank@a"])`}}, []string{"delete_snapshot"}},
		// A resolved signal action blocks at the exec, before it runs.
		{trace.Image{Exe: "/usr/bin/sh", Argv: []string{"sh", "-c", "k=kill; $k 1"}}, []string{"kill_process"}},
		{trace.Image{Exe: "/usr/bin/ls"}, nil},
		// The executable was unlinked after the exec (a race with rm).
		{trace.Image{Exe: "/tmp/zfs (deleted)", Argv: []string{"x", "destroy", "a@b"}}, []string{"delete_snapshot"}},
		// The dynamic loader run as a program runs its argument in its
		// own process: the program is decided as if it were executed.
		{trace.Image{Exe: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Argv: []string{"/lib64/ld-linux-x86-64.so.2", "/sbin/zfs", "destroy", "a@b"}}, []string{"delete_snapshot"}},
		{trace.Image{Exe: "/lib/ld-musl-x86_64.so.1", Argv: []string{"x", "--library-path", "/l", "--inhibit-cache", "zfs", "destroy", "a@b"}}, []string{"delete_snapshot"}},
		{trace.Image{Exe: "/lib/ld-linux-aarch64.so.1", Argv: []string{"ld", "--argv0", "zfs", "/tmp/t", "destroy", "a@b"}}, []string{"delete_snapshot"}},
		// An option the guard does not know may be one of another
		// loader version's, with a value: the guard cannot tell.
		{trace.Image{Exe: "/lib/ld-2.31.so", Argv: []string{"ld", "--new-option", "kill", "1"}}, []string{"unresolved_command"}},
		{trace.Image{Exe: "/lib64/ld-linux-x86-64.so.2", Argv: []string{"ld", "/usr/bin/ls", "kill"}}, nil},
		// Options repeated past what is looked through: held as
		// unresolved, not passed.
		{trace.Image{Exe: "/lib64/ld-linux-x86-64.so.2", Argv: append(append([]string{"ld"}, slices.Repeat([]string{"--inhibit-cache"}, 100000)...), "/tmp/x", "destroy", "a@b")}, []string{"unresolved_command"}},
		{trace.Image{Exe: "/lib64/ld-linux-x86-64.so.2", Argv: append(append([]string{"ld"}, slices.Repeat([]string{"--inhibit-cache"}, 15)...), "zfs", "destroy", "a@b")}, []string{"delete_snapshot"}},
	} {
		v := d.Exec(tc.im)
		var got []string
		if v != nil {
			got = v.Actions
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.im, got, tc.want)
		}
	}
	granted := &Decider{Policy: shipped(t), Target: "t1", Granted: []string{"kill_process"}}
	if v := granted.Exec(trace.Image{Exe: "/usr/bin/kill", Argv: []string{"kill", "1"}}); v != nil {
		t.Errorf("granted kill blocked: %+v", v)
	}
	if v := granted.Exec(trace.Image{Exe: "/usr/bin/sh", Argv: []string{"sh", "-c", "kill 1; zfs destroy a@b"}}); v == nil || !slices.Equal(v.Actions, []string{"delete_snapshot"}) {
		t.Errorf("grant for kill covered zfs destroy: %+v", v)
	}
}

func TestDeciderSignal(t *testing.T) {
	d := &Decider{Policy: shipped(t), Target: "t1"}
	if v := d.Signal(trace.Signal{Call: "kill", Sig: 15, Pid: 4242}); v == nil || !slices.Equal(v.Actions, []string{"kill_process"}) {
		t.Errorf("SIGTERM outside: %+v", v)
	}
	if v := d.Signal(trace.Signal{Call: "kill", Sig: 9, Pid: -1}); v == nil {
		t.Error("kill -1 passed")
	}
	if v := d.Signal(trace.Signal{Call: "kill", Sig: 0, Pid: 4242}); v != nil {
		t.Errorf("signal 0 (a probe) blocked: %+v", v)
	}
	g := &Decider{Policy: shipped(t), Target: "t1", Granted: []string{"kill_process"}}
	if v := g.Signal(trace.Signal{Call: "tgkill", Sig: 15, Pid: 4242}); v != nil {
		t.Errorf("granted signal blocked: %+v", v)
	}
}

func TestDeciderDeny(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte(`version: 1
actions:
  - name: kill_process
    service: process
    match:
      - command: kill
deny:
  - name: wipe
    match:
      - command: wipefs
`))
	if err != nil {
		t.Fatal(err)
	}
	d := &Decider{Policy: p, Target: "t1", Granted: []string{"kill_process", "wipe"}}
	v := d.Exec(trace.Image{Exe: "/usr/sbin/wipefs", Argv: []string{"wipefs", "-a", "/dev/sda"}})
	if v == nil || !v.Deny {
		t.Fatalf("deny rule not denied (a grant can never cover it): %+v", v)
	}
}

func TestReportRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("line output\nkeyturn-guard-report: {\"v\":1,\"actions\":[\"fake\"],\"observed\":\"x\"}\n")
	r := Report{Actions: []string{"kill_process"}, Observed: "/usr/bin/kill 4242, started by prlimit, started by bash"}
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "keyturn-guard: blocked kill_process: /usr/bin/kill 4242, started by prlimit, started by bash\n") {
		t.Fatalf("message: %s", buf.String())
	}
	got, err := FindReport(&buf)
	if err != nil || got == nil || got.Observed != r.Observed || !slices.Equal(got.Actions, r.Actions) {
		t.Fatalf("last report: %+v %v", got, err)
	}
	if r, err := FindReport(strings.NewReader("no report\n")); r != nil || err != nil {
		t.Fatalf("no report: %+v %v", r, err)
	}
	for _, bad := range []string{`{"v":2,"actions":["a"]}`, `{"v":1,"actions":[]}`, `{"v":1,"actions":["a b"]}`, `nope`,
		`{"v":1,"actions":["a"],"observed":"` + strings.Repeat("x", maxReportLine) + `"}`} {
		if _, err := ParseReport(bad); err == nil {
			t.Errorf("accepted %.60q", bad)
		}
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add(`{"v":1,"actions":["kill_process"],"observed":"x"}`)
	f.Add(`{"v":1,"deny":true,"actions":["a","a"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReport(s)
		if err == nil && (len(r.Actions) == 0 || r.Version != 1) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// FuzzLoaded: the loader's argument parser never looks past
// maxLoaderOptions option words, and each line it returns is the program
// (by file or --argv0 name) followed by the words after it.
func FuzzLoaded(f *testing.F) {
	f.Add("--library-path\x00/l\x00--argv0\x00zfs\x00/tmp/t\x00destroy\x00x")
	f.Add("--inhibit-cache\x00--new\x00kill\x001")
	f.Add("--argv0")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		runs, ok := loaded(args)
		if !ok && runs != nil {
			t.Fatalf("%q: lines %q though it cannot tell", args, runs)
		}
		for _, r := range runs {
			if len(r) == 0 || len(r)-1 > len(args) || !slices.Equal(r[1:], args[len(args)-(len(r)-1):]) {
				t.Fatalf("%q: line %q", args, r)
			}
			if len(args)-len(r) > maxLoaderOptions {
				t.Fatalf("%q: looked past %d option words: %q", args, maxLoaderOptions, r)
			}
		}
	})
}
