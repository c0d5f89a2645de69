//go:build linux

package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestArgvFrame: what the tracer sends is what the child runs, byte for
// byte, whatever the arguments hold; what cannot be sent is refused before
// anything starts.
func TestArgvFrame(t *testing.T) {
	for _, argv := range [][]string{
		{"/bin/true"},
		{"/bin/bash", "--norc", "-c", "echo 'a b'; kill 1"},
		{"/x", "", "", "\n", "\xff\xfe", strings.Repeat("y", 70000)},
	} {
		f, err := argvFrame(argv)
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		got, err := parseArgv(f[4:])
		if err != nil || !slices.Equal(got, argv) {
			t.Fatalf("round trip of %q: %q, %v", argv, got, err)
		}
	}
	for _, argv := range [][]string{nil, {"/bin/echo", "a\x00b"}, {"/x", strings.Repeat("z", maxArgv)}} {
		if _, err := argvFrame(argv); err == nil {
			t.Errorf("argvFrame(%.40q) succeeded", argv)
		}
	}
	for _, body := range [][]byte{nil, []byte("/bin/true"), []byte("/bin/true\x00x")} {
		if _, err := parseArgv(body); err == nil {
			t.Errorf("parseArgv(%q) succeeded", body)
		}
	}
}

// FuzzArgvFrame: a frame the child accepts holds no NUL inside an
// argument, and sending it again gives the same frame.
func FuzzArgvFrame(f *testing.F) {
	f.Add([]byte("/bin/true\x00"))
	f.Add([]byte("/bin/sh\x00-c\x00kill 1\x00"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		argv, err := parseArgv(body)
		if err != nil {
			return
		}
		again, err := argvFrame(argv)
		if err != nil {
			if len(body) > maxArgv {
				return
			}
			t.Fatalf("argvFrame(%q): %v", argv, err)
		}
		if !bytes.Equal(again[4:], body) {
			t.Fatalf("frame %q came back as %q", body, again[4:])
		}
	})
}

// onThread runs f on a goroutine of its own: Start and Child.Run lock
// their thread for good.
func onThread[T any](f func() T) T {
	c := make(chan T, 1)
	go func() { c <- f() }()
	return <-c
}

// TestStartAbortRunsNothing: a child started ahead and aborted (the
// guard's grant was refused) runs nothing, and is gone.
func TestStartAbortRunsNothing(t *testing.T) {
	pid := onThread(func() int {
		c, err := Start(os.Environ())
		if err != nil {
			t.Error(err)
			return 0
		}
		c.Abort()
		c.Abort() // a second Abort is harmless
		if _, err := c.Run(Config{Argv: []string{"/bin/true"}, Decider: &recorder{}}); err == nil {
			t.Error("Run after Abort succeeded")
		}
		return c.pid
	})
	if pid != 0 {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil {
			// The pid may have been reused already; only our child's
			// command line counts.
			if b, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline")); bytes.Contains(b, []byte(childArg)) {
				t.Fatalf("the aborted child %d is still there", pid)
			}
		}
	}
}

// TestStartThenRun: a child started before its argv is known runs exactly
// the argv Run gives it, traced (the execs of its tree are decided), with the
// environment given to Start; a second Run is refused.
func TestStartThenRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	rec := &recorder{}
	type result struct {
		res       *Result
		err, err2 error
	}
	r := onThread(func() result {
		c, err := Start(append(os.Environ(), "KT_START=from-start"))
		if err != nil {
			return result{err: err}
		}
		// A child that has waited is still waiting.
		runtime.Gosched()
		res, err := c.Run(Config{
			Argv:    []string{"/bin/sh", "-c", `/bin/true traced; printf '%s|%s|%s' "$1" "$2" "$KT_START" > "$3"`, "sh", "a b", "", out},
			Env:     []string{"KT_START=from-run"},
			Decider: rec,
		})
		_, err2 := c.Run(Config{Argv: []string{"/bin/true"}, Decider: rec})
		return result{res, err, err2}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.err2 == nil {
		t.Error("a second Run of the same child succeeded")
	}
	if !r.res.Started || r.res.Exit != 0 {
		t.Fatalf("result %+v", r.res)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "a b||from-start" {
		t.Fatalf("the child ran with %q (%v); want %q", b, err, "a b||from-start")
	}
	if len(rec.execs) != 1 || strings.Join(rec.execs[0].Argv, " ") != "/bin/true traced" {
		t.Fatalf("the tree's exec was not decided: %+v", rec.execs)
	}
}

// TestRunRefusesBadArgv: an argv that cannot be sent (a NUL inside an
// argument, a relative program) is refused and the child killed.
func TestRunRefusesBadArgv(t *testing.T) {
	for _, argv := range [][]string{{"/bin/echo", "a\x00b"}, {"sh", "-c", "true"}} {
		err := onThread(func() error {
			c, err := Start(os.Environ())
			if err != nil {
				return err
			}
			_, err = c.Run(Config{Argv: argv, Decider: &recorder{}})
			if err == nil {
				t.Errorf("Run(%q) succeeded", argv)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
