package trace

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func img(argv ...string) Image { return Image{Exe: "/usr/bin/" + argv[0], Argv: argv} }

func TestTreeMembership(t *testing.T) {
	tr := NewTree(100)
	if !tr.Contains(100) || tr.Contains(101) {
		t.Fatal("root membership")
	}
	if !tr.AddProcess(101, 100) || !tr.AddProcess(102, 101) {
		t.Fatal("add children")
	}
	if tr.AddProcess(200, 999) {
		t.Fatal("a process whose parent is outside the tree was added")
	}
	if tr.Contains(200) {
		t.Fatal("refused process is a member")
	}
	if !tr.AddThread(103, 102) || !tr.ContainsTask(103) || tr.Contains(103) {
		t.Fatal("a thread is a task of the tree, not a process")
	}
	if g, _ := tr.Tgid(103); g != 102 {
		t.Fatalf("tgid of thread 103 = %d", g)
	}
	if tr.AddThread(104, 999) {
		t.Fatal("thread of an unknown process added")
	}
	// Adding again (first stop before the fork event) changes nothing.
	if !tr.AddProcess(101, 100) || tr.Len() != 3 {
		t.Fatalf("re-add: len %d", tr.Len())
	}
	// A thread's exit leaves its process in the tree.
	if tr.Exit(103) || !tr.Contains(102) || tr.ContainsTask(103) {
		t.Fatal("thread exit")
	}
	if !tr.Exit(102) || tr.Contains(102) {
		t.Fatal("process exit")
	}
	if tr.Exit(555) {
		t.Fatal("exit of an unknown task reported a process")
	}
}

// TestTreeExecByNonLeader: when a thread other than the leader executes, the
// kernel gives it the leader's tid; the old tid and every other thread are
// gone, the process (tgid) stays.
func TestTreeExecByNonLeader(t *testing.T) {
	tr := NewTree(100)
	tr.AddProcess(200, 100)
	tr.AddThread(201, 200)
	tr.AddThread(202, 200)
	p, ok := tr.Exec(200, 202, img("kill", "1"))
	if !ok || p.Pid != 200 {
		t.Fatalf("exec: %v %+v", ok, p)
	}
	for _, tid := range []int{201, 202} {
		if tr.ContainsTask(tid) {
			t.Errorf("thread %d survived the exec", tid)
		}
	}
	if !tr.ContainsTask(200) || !tr.Contains(200) {
		t.Fatal("the process lost its leader tid")
	}
	// The late exit reports of the killed threads change nothing.
	if tr.Exit(201) || tr.Exit(202) || !tr.Contains(200) {
		t.Fatal("late thread exits removed the process")
	}
	// An exec reported under a tid the tree has not seen, with the former
	// tid known, still lands on the process.
	tr.AddThread(203, 200)
	if p, ok := tr.Exec(203, 203, img("true")); !ok || p.Pid != 200 {
		t.Fatal("exec by known former tid")
	}
	if _, ok := tr.Exec(900, 901, img("true")); ok {
		t.Fatal("exec by an unknown task accepted")
	}
}

// TestTreePidReuse: once a process's exit is reaped by the tracer its pid
// names nothing of ours; a new process with the same pid is whatever it is
// now, with its own parent and programs.
func TestTreePidReuse(t *testing.T) {
	tr := NewTree(100)
	tr.Exec(100, 100, img("bash", "-c", "x"))
	tr.AddProcess(300, 100)
	tr.Exec(300, 300, img("prlimit", "kill", "1"))
	tr.Exit(300)
	if tr.Contains(300) {
		t.Fatal("exited pid still a member")
	}
	// Reused outside the tree: not ours.
	if tr.AddProcess(300, 4242) || tr.Contains(300) {
		t.Fatal("reused pid with an outside parent joined the tree")
	}
	// Reused inside: a fresh process with no history.
	tr.AddProcess(301, 100)
	tr.AddProcess(300, 301)
	tr.Exec(300, 300, img("ls"))
	if got := tr.Chain(300); !slices.Equal(got, []string{"bash"}) {
		t.Fatalf("chain of reused pid = %q, want [bash]: not the old pid's prlimit", got)
	}
	p, _ := tr.Proc(300)
	if len(p.Images) != 1 || p.Parent != 301 {
		t.Fatalf("reused pid kept old state: %+v", p)
	}
}

func TestTreeChain(t *testing.T) {
	tr := NewTree(10)
	if got := tr.Chain(10); len(got) != 0 {
		t.Fatalf("root before exec: %q (the guard itself is never named)", got)
	}
	tr.Exec(10, 10, img("bash", "-c", "..."))
	tr.AddProcess(11, 10) // subshell: runs bash until it executes
	if d := tr.Describe(11); d.Name() != "bash" {
		t.Fatalf("describe subshell = %q", d.Name())
	}
	if got := tr.Chain(11); len(got) != 0 {
		t.Fatalf("subshell chain %q", got)
	}
	tr.Exec(11, 11, img("prlimit", "kill", "4242"))
	tr.Exec(11, 11, img("kill", "4242"))
	if got := tr.Chain(11); !slices.Equal(got, []string{"prlimit", "bash"}) {
		t.Fatalf("chain = %q", got)
	}
	// History is bounded.
	for i := 0; i < 3*maxImages; i++ {
		tr.Exec(11, 11, img("true"))
	}
	p, _ := tr.Proc(11)
	if len(p.Images) > maxImages {
		t.Fatalf("%d images kept", len(p.Images))
	}
	// Deep trees: the chain is bounded.
	parent := 11
	for pid := 20; pid < 40; pid++ {
		tr.AddProcess(pid, parent)
		tr.Exec(pid, pid, img("sh"+strings.Repeat("x", pid-19)))
		parent = pid
	}
	if got := tr.Chain(39); len(got) > maxChain {
		t.Fatalf("chain of %d", len(got))
	}
}

func TestImageString(t *testing.T) {
	for _, tc := range []struct {
		im   Image
		want string
	}{
		{img("kill", "4242"), "/usr/bin/kill 4242"},
		{Image{Exe: "/usr/bin/sleep", Argv: []string{"kill", "0"}}, "/usr/bin/sleep (as kill) 0"},
		{img("sh", "-c", "kill 1; echo 'x'"), `/usr/bin/sh -c 'kill 1; echo '\''x'\'''`},
		{Image{Exe: "/bin/x"}, "/bin/x"},
	} {
		if got := tc.im.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.im, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"/usr/bin/kill 4242":                 "/usr/bin/kill 4242",
		"naïve — ok":                         "naïve — ok",
		"a\x1b[2J\nkeyturn-guard-report: {}": `a\x1b[2J\nkeyturn-guard-report: {}`,
		"evil\u202eexe.txt":                  `evil\u202eexe.txt`,
		"bad \xff\xfe utf8":                  `bad \xff\xfe utf8`,
		"tab\there\x7f":                      `tab\there\x7f`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	long := img("echo", strings.Repeat("a", 1000))
	if got := long.String(); len(got) > maxShownArgs+10 || !strings.HasSuffix(got, "…") {
		t.Errorf("long argv shown as %d bytes", len(got))
	}
}

// FuzzPrintable: whatever a tree names itself, the message has no control
// or format character and is valid UTF-8; text without them is unchanged.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"kill 4242", "a\x1b[2J\nb", "\xff\xfe", "e\u202ev", "naïve", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("printable(%q) = %q: not UTF-8", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("printable(%q) = %q: has %U", s, got, r)
			}
		}
		clean := utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) })
		if clean != (got == s) {
			t.Fatalf("printable(%q) = %q", s, got)
		}
	})
}
