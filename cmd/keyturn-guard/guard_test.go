//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
)

// The guard binary under test, built once by TestMain with its files beside
// it, as `keyturn guard install` lays them out.
var (
	guardBin    string
	gateSigner  ssh.Signer
	policyHash  string
	testTarget  = "t1"
	installDir  string
	runDeadline = 90 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "keyturn-guard-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		installDir = dir
		guardBin = filepath.Join(dir, "keyturn-guard")
		build := exec.Command("go", "build", "-o", guardBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build keyturn-guard: %v\n%s", err, out)
			return 1
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		gateSigner, err = ssh.NewSignerFromKey(priv)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pol, err := os.ReadFile("../../policies.yaml")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		policyHash = grant.PolicyDigest(pol)
		for name, data := range map[string][]byte{
			"gate.pub":      ssh.MarshalAuthorizedKey(gateSigner.PublicKey()),
			"policies.yaml": pol,
			"target":        []byte(testTarget + "\n"),
		} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}())
}

type outcome struct {
	code           int
	stdout, stderr string
}

// guardCmd is the guard started with args and HOME set to home.
func guardCmd(ctx context.Context, home string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, guardBin, args...)
	c.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C"}
	return c
}

func runGuard(t testing.TB, home string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, home, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ctx.Err() != nil {
		t.Fatalf("guard %q did not finish within %v; stderr: %s", args, runDeadline, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return outcome{code, out.String(), errb.String()}
}

func runLine(t testing.TB, line string, actions ...string) outcome {
	t.Helper()
	return runGrant(t, t.TempDir(), line, actions...)
}

// victim is P: a process outside the guard's tree that lines try to kill.
type victim struct {
	pid  int
	done chan struct{}
}

func startVictim(t *testing.T) *victim {
	t.Helper()
	return startVictimCmd(t, exec.Command("sleep", "1000"))
}

// startVictimCmd starts c as P, leading a process group of its own; the
// test's cleanup kills it.
func startVictimCmd(t *testing.T, c *exec.Cmd) *victim {
	t.Helper()
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	v := &victim{pid: c.Process.Pid, done: make(chan struct{})}
	go func() { c.Wait(); close(v.done) }()
	t.Cleanup(func() { c.Process.Kill(); <-v.done })
	return v
}

func (v *victim) alive() bool {
	select {
	case <-v.done:
		return false
	default:
		return true
	}
}

func (v *victim) waitDead(t *testing.T) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("P (%d) still alive 30s after the line", v.pid)
	}
}

func has(tool string) bool { _, err := exec.LookPath(tool); return err == nil }

// TestAttacksBlocked runs every escape from issue 10 against the guard: each
// must be blocked, name kill_process and what ran, and leave P alive.
func TestAttacksBlocked(t *testing.T) {
	cases := []struct {
		name, line, want string
		tools            []string
	}{
		{"kill builtin", `kill P`, "kill(P (sleep), SIGTERM) by /usr/bin/bash", nil},
		{"kill builtin by variable", `k=kill; $k -9 P`, "kill(P (sleep), SIGKILL)", nil},
		{"bin kill", `c=/bin/kill; $c P`, "/usr/bin/kill P, started by bash", []string{"kill"}},
		{"sed e", `echo 'kill P' | sed e`, "started by sed, started by bash", []string{"sed"}},
		{"prlimit", `p=prlimit; $p kill P`, "kill P", []string{"prlimit", "kill"}},
		{"setarch", `s=setarch; $s $(uname -m) kill P`, "kill P", []string{"setarch", "kill"}},
		{"capsh", `c=capsh; $c -- -c 'kill P'`, "kill P", []string{"capsh"}},
		{"python os.kill", `python3 -c 'import os; os.kill(P, 15)'`, "kill(P (sleep), SIGTERM) by", []string{"python3"}},
		{"perl kill", `perl -e 'kill 15, P'`, "kill(P (sleep), SIGTERM) by /usr/bin/perl", []string{"perl"}},
		{"git alias", `git -c alias.x='!kill P' x`, "started by git", []string{"git"}},
		{"arithmetic injection", `read x <<< 'a[$(kill P)]'; : $((x))`, "kill(P (sleep), SIGTERM)", nil},
		{"xargs env", `echo kill P | xargs env`, "kill P", []string{"xargs", "env"}},
		{"setsid double fork", `setsid -f sh -c 'k=$(printf ki; printf ll); $k P'; sleep 20`, "kill(P (sleep), SIGTERM)", []string{"setsid"}},
		{"renamed copy", `cp /bin/kill "$HOME/k" && "$HOME/k" P`, "kill(P (sleep), SIGTERM)", []string{"kill"}},
		{"exec -a", `(exec -a kill /bin/sleep 0)`, "/usr/bin/sleep (as kill) 0", nil},
		{"tkill", `python3 -c 'import ctypes; ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_TKILL) + `, P, 15)'`, "tkill(P (sleep), SIGTERM)", []string{"python3"}},
		{"tgkill", `python3 -c 'import ctypes; ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_TGKILL) + `, P, P, 15)'`, "tgkill(P (sleep), SIGTERM)", []string{"python3"}},
		{"rt_sigqueueinfo", `python3 -c 'import ctypes; b=ctypes.create_string_buffer(128); b[0]=15; b[8]=255; ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_RT_SIGQUEUEINFO) + `, P, 15, b)'`, "rt_sigqueueinfo(P (sleep), SIGTERM)", []string{"python3"}},
		{"rt_tgsigqueueinfo", `python3 -c 'import ctypes; b=ctypes.create_string_buffer(128); b[0]=15; b[8]=255; ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_RT_TGSIGQUEUEINFO) + `, P, P, 15, b)'`, "rt_tgsigqueueinfo(P (sleep), SIGTERM)", []string{"python3"}},
		{"pidfd", `python3 -c 'import os, signal; signal.pidfd_send_signal(os.pidfd_open(P), 15)'`, "pidfd_send_signal(P (sleep), SIGTERM)", []string{"python3"}},
		{"process group", `kill -- -P`, "kill(process group P, SIGTERM)", nil},
		// A file's owner is signalled by the kernel later (SIGIO).
		{"fcntl F_SETOWN", `python3 -c 'import fcntl, os; r, w = os.pipe(); fcntl.fcntl(r, fcntl.F_SETOWN, P)'`, "fcntl F_SETOWN(P (sleep), SIGIO)", []string{"python3"}},
		// A thread other than the leader executes: its tid becomes the
		// leader's, and the exec stop still sees the real argv.
		{"exec by a thread", `python3 -c 'import os, threading, time
def rewrite():
    a = bytearray(b"x" * 64)
    while True: a[0] ^= 1
threading.Thread(target=rewrite, daemon=True).start()
t = threading.Thread(target=lambda: os.execv("/bin/kill", ["kill", "P"]))
t.start(); t.join()'`, "/usr/bin/kill P, started by python3", []string{"python3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			needTools(t, tc.tools...)
			// P leads a process group of its own, outside the tree.
			p := startVictim(t)
			pid := strconv.Itoa(p.pid)
			line := strings.ReplaceAll(tc.line, "P", pid)
			home := t.TempDir()
			o := runGrant(t, home, line)
			if o.code != guard.ExitBlocked {
				t.Fatalf("line %q: exit %d, want %d (blocked)\nstdout: %s\nstderr: %s", line, o.code, guard.ExitBlocked, o.stdout, o.stderr)
			}
			want := strings.ReplaceAll(tc.want, "P", pid)
			if !strings.Contains(o.stderr, "keyturn-guard: blocked kill_process: ") || !strings.Contains(o.stderr, want) {
				t.Errorf("line %q: stderr does not name %q:\n%s", line, want, o.stderr)
			}
			r, err := guard.FindReport(strings.NewReader(o.stderr))
			if err != nil || r == nil || len(r.Actions) != 1 || r.Actions[0] != "kill_process" {
				t.Errorf("report: %+v, %v", r, err)
			}
			// Give a signal that slipped through time to land.
			time.Sleep(50 * time.Millisecond)
			if !p.alive() {
				t.Errorf("line %q killed P", line)
			}
		})
	}
}

// TestGrantedKillRuns: with kill_process granted, the same act goes through.
func TestGrantedKillRuns(t *testing.T) {
	for _, line := range []string{`kill P`, `python3 -c 'import os; os.kill(P, 15)'`, `c=/bin/kill; $c P`} {
		t.Run(line, func(t *testing.T) {
			if strings.HasPrefix(line, "python3") && !has("python3") {
				t.Skip("no python3")
			}
			p := startVictim(t)
			line := strings.ReplaceAll(line, "P", strconv.Itoa(p.pid))
			o := runLine(t, line, "kill_process")
			if o.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", o.code, o.stderr)
			}
			p.waitDead(t)
		})
	}
}

// TestBenignLines pass: signals inside the tree, job control, many execs.
func TestBenignLines(t *testing.T) {
	cases := []struct {
		line     string
		code     int
		contains string
	}{
		{`timeout 1 sleep 5`, 124, ""},
		{`sleep 2 & kill %1; wait; echo done`, 0, "done"},
		{`kill -l`, 0, "HUP"},
		{`for i in $(seq 500); do /bin/true; done; echo ok`, 0, "ok"},
		{`kill -0 $$ && echo self`, 0, "self"},
		{`exit 7`, 7, ""},
		{`kill -9 $$`, 137, ""},
		// kill -STOP stops a traced process (PTRACE_SEIZE and LISTEN
		// keep group-stop working; ps shows a stopped tracee as "t");
		// kill -CONT resumes it.
		{`sleep 5 & p=$!; kill -STOP $p; sleep 0.3; ps -o stat= -p $p; kill -CONT $p; sleep 0.3; ps -o stat= -p $p; kill $p`, 0, "t\nS\n"},
		{`k=kill; $k 999999999 2>&1; echo rc=$?`, 0, "rc=1"},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			o := runLine(t, tc.line)
			if o.code != tc.code || !strings.Contains(o.stdout, tc.contains) {
				t.Fatalf("exit %d (want %d), stdout %q (want %q)\nstderr: %s", o.code, tc.code, o.stdout, tc.contains, o.stderr)
			}
			if strings.Contains(o.stderr, "keyturn-guard") {
				t.Errorf("guard spoke: %s", o.stderr)
			}
		})
	}
}

// TestStream: 256 MiB through the guard's stdout arrive intact.
func TestStream(t *testing.T) {
	const n = 256 << 20
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, t.TempDir(), "-c", guard.Command)
	var errb bytes.Buffer
	c.Stderr = &errb
	s := startSession(t, c, false, grantSpec{line: fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", n)})
	s.in.Close()
	h := sha256.New()
	got, _ := io.Copy(h, s.out)
	if err := c.Wait(); err != nil {
		t.Fatalf("guard: %v: %s", err, errb.String())
	}
	want := sha256.Sum256(bytes.Repeat([]byte("x"), n))
	if got != n || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d bytes with sha256 %x, want %d with %s", got, h.Sum(nil), n, hex.EncodeToString(want[:]))
	}
}

// TestKillGuardKillsTree: kill -9 of the guard takes its tree with it
// (PTRACE_O_EXITKILL).
func TestKillGuardKillsTree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, t.TempDir(), "-c", guard.Command)
	s := startSession(t, c, false, grantSpec{line: `sleep 1000 & echo $!; wait`})
	line, err := s.out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if !pidAlive(child) {
		t.Fatalf("sleep %d not running", child)
	}
	c.Process.Signal(os.Kill)
	c.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for pidAlive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d outlived the guard by 30s", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidAlive reports whether pid runs and is not a zombie.
func pidAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && data[i+2] != 'Z'
}

// TestGrantRefused: forged, replayed, expired, other target, other policy,
// other key, another challenge, a bare line: nothing runs.
func TestGrantRefused(t *testing.T) {
	home := t.TempDir()
	marker := filepath.Join(home, "ran")
	line := "touch " + marker
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	// A grant signed for another run (another challenge), and its parts.
	someChallenge, _ := grant.NewChallenge()
	g, err := grant.New(testTarget, line, nil, policyHash, someChallenge, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	good, err := grant.Sign(g, gateSigner)
	if err != nil {
		t.Fatal(err)
	}
	payload, sig, _ := strings.Cut(strings.TrimPrefix(good, grant.Prefix), ".")
	cases := map[string]grantSpec{
		"forged by another key": {line: line, signer: other},
		"expired": {line: line, edit: func(g *grant.Grant) {
			g.IssuedAt, g.Expires = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour+time.Minute).Unix()
		}},
		"not yet valid": {line: line, edit: func(g *grant.Grant) {
			g.IssuedAt, g.Expires = time.Now().Add(time.Hour).Unix(), time.Now().Add(time.Hour+time.Minute).Unix()
		}},
		"other target":       {line: line, edit: func(g *grant.Grant) { g.Target = "t2" }},
		"other policy":       {line: line, edit: func(g *grant.Grant) { g.Policy = strings.Repeat("0", 64) }},
		"other challenge":    {token: good},
		"truncated":          {token: grant.Prefix + payload},
		"signature of other": {token: grant.Prefix + payload + "." + sig[:len(sig)-4] + "AAAA"},
		"version 1 token":    {token: "kt1." + payload + "." + sig},
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			o := runSpec(t, home, spec)
			if o.code != guard.ExitGrant || !strings.Contains(o.stderr, "keyturn-guard: refused: grant: ") {
				t.Errorf("exit %d, want %d; stderr: %s", o.code, guard.ExitGrant, o.stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the line ran")
			}
			noChildLeft(t, o.stderr)
		})
	}
	for name, args := range map[string][]string{
		"bare line":         {"-c", line},
		"version 1 as argv": {"-c", good},
		"interactive login": nil,
	} {
		t.Run(name, func(t *testing.T) {
			o := runGuard(t, home, args...)
			if o.code != guard.ExitUsage {
				t.Errorf("exit %d, want %d", o.code, guard.ExitUsage)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the line ran")
			}
		})
	}
	// No grant line at all, or a broken one: refused, nothing runs.
	for name, in := range map[string]string{"no grant": "", "not a grant line": line + "\n", "huge length": "99999999999 x\n"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
			defer cancel()
			c := guardCmd(ctx, home, "-c", guard.Command)
			c.Stdin = strings.NewReader(in)
			out, err := c.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != guard.ExitGrant {
				t.Errorf("%v: %s", err, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the line ran")
			}
			noChildLeft(t, string(out))
		})
	}
	t.Run("replayed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
		defer cancel()
		first := startSession(t, guardCmd(ctx, home, "-c", guard.Command), true, grantSpec{line: line})
		if out, code := first.finish(t); code != 0 {
			t.Fatalf("first use: exit %d: %s", code, out)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatal("first use did not run")
		}
		os.Remove(marker)
		o := runSpec(t, home, grantSpec{token: first.token})
		if o.code != guard.ExitGrant || !strings.Contains(o.stderr, "another challenge") {
			t.Errorf("replay: exit %d: %s", o.code, o.stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the replay ran")
		}
	})
}

// noChildLeft fails if the traced child, which the guard starts while it
// waits for the grant, outlived a refused run or spoke: a refused grant is
// killed quietly, before the child was given anything to run.
func noChildLeft(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "child:") {
		t.Errorf("the child spoke: %s", stderr)
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		// Only this test's guard binary counts: other tests on the
		// machine run guards of their own.
		if exe, _ := os.Readlink("/proc/" + d.Name() + "/exe"); exe == guardBin {
			t.Errorf("process %d of the guard binary outlived a refused run", pid)
		}
	}
}

// TestStagedRCFiles: ~/.bashrc, ~/.bash_profile, ~/.profile and BASH_ENV
// staged by an earlier session run nothing.
func TestStagedRCFiles(t *testing.T) {
	home := t.TempDir()
	marker := filepath.Join(home, "rc-ran")
	for _, f := range []string{".bashrc", ".bash_profile", ".profile", "env.sh"} {
		if err := os.WriteFile(filepath.Join(home, f), []byte("touch "+marker+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := guardCmd(ctx, home, "-c", guard.Command)
	c.Env = append(c.Env, "BASH_ENV="+filepath.Join(home, "env.sh"), "ENV="+filepath.Join(home, "env.sh"),
		"SSH_CLIENT=127.0.0.1 1 2", "SHLVL=0")
	out, code := startSession(t, c, true, grantSpec{line: "echo hi"}).finish(t)
	if code != 0 || out != "hi\n" {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a staged rc file ran")
	}
}

// TestUntracedChildRefused: clone(CLONE_UNTRACED) would make a child the
// tracer cannot follow, whose execs nobody checks; it fails with EPERM.
func TestUntracedChildRefused(t *testing.T) {
	needTools(t, "python3")
	o := runLine(t, `python3 -c 'import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
pid = libc.syscall(56 if os.uname().machine == "x86_64" else 220, 0x00800000 | 17, 0, 0, 0, 0)
if pid == 0:
    os.execv("/bin/echo", ["echo", "untraced-exec"])
print("clone", pid, ctypes.get_errno())'`)
	if strings.Contains(o.stdout, "untraced-exec") || !strings.Contains(o.stdout, "clone -1 1") {
		t.Fatalf("exit %d, stdout %q, stderr %s", o.code, o.stdout, o.stderr)
	}
}

// TestProbe: the gate's probe is answered without a grant.
func TestProbe(t *testing.T) {
	o := runGuard(t, t.TempDir(), "-c", guard.ProbeCommand)
	if o.code != 0 || strings.TrimSpace(o.stdout) != guard.ProbeAnswer {
		t.Fatalf("exit %d, stdout %q", o.code, o.stdout)
	}
}

// TestKillEverything: kill(-1) would hit every process the account may
// signal, so it runs in a PID namespace of its own where "every process" is
// the guard, its tree and P.
func TestKillEverything(t *testing.T) {
	if !has("unshare") {
		t.Skip("no unshare")
	}
	needPIDNamespace(t)
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	// P is the namespace's sleep; the guard runs beside it, not above it.
	c := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		"sh", "-c", `sleep 1000 </dev/null & "$0" -c "$1"; echo "guard=$?"; kill -0 $! && echo P-alive; kill $!`, guardBin, guard.Command)
	c.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	s, _ := startSession(t, c, true, grantSpec{line: `k=kill; $k -s 0 1; $k -TERM -1; echo surv""ived`}).finish(t)
	if ctx.Err() != nil {
		t.Fatalf("did not finish: %s", s)
	}
	if !strings.Contains(s, fmt.Sprintf("guard=%d", guard.ExitBlocked)) || !strings.Contains(s, "kill(every process, SIGTERM)") ||
		!strings.Contains(s, "P-alive") || strings.Contains(s, "survived") {
		t.Fatalf("kill -1 not blocked:\n%s", s)
	}
}

// int80Kill calls kill(P, SIGTERM) through the i386 entry (int 0x80), which
// a filter that only knows x86-64 numbers would let through: 37 is kill on
// i386 and alarm on x86-64.
const int80Kill = `python3 -c '
import ctypes, mmap, struct
code = b"\xb8\x25\x00\x00\x00\xbb" + struct.pack("<I", @P@) + b"\xb9\x0f\x00\x00\x00\xcd\x80\xc3"
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)
m.write(code)
ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
'; echo rc=$?`

// TestForeignArchitectureKilled: the i386 entry kills the caller (SIGSYS)
// instead of reaching P.
func TestForeignArchitectureKilled(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("int 0x80 is x86")
	}
	needTools(t, "python3")
	p := startVictim(t)
	o := runLine(t, strings.ReplaceAll(int80Kill, "@P@", strconv.Itoa(p.pid)))
	if !strings.Contains(o.stdout, fmt.Sprintf("rc=%d", 128+int(syscall.SIGSYS))) {
		t.Errorf("python was not killed by SIGSYS: exit %d, stdout %q, stderr %s", o.code, o.stdout, o.stderr)
	}
	time.Sleep(50 * time.Millisecond)
	if !p.alive() {
		t.Fatal("int 0x80 killed P")
	}
}

// TestTerminal: with a terminal on stdin (ssh -t), the tree gets its own
// foreground process group on it; signals inside still pass.
func TestTerminal(t *testing.T) {
	if !has("script") {
		if os.Getenv("CI") == "true" {
			t.Fatal("script (util-linux) is not installed")
		}
		t.Skip("script is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := exec.CommandContext(ctx, "script", "-qec", guardBin+" -c "+guard.Command, "/dev/null")
	c.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	s := startSession(t, c, true, grantSpec{line: `tty; sleep 5 & kill %1; wait; echo pty-ok`})
	if s.challenge == "" {
		t.Fatalf("no challenge on the terminal: %q", s.pre)
	}
	out, code := s.finish(t)
	if ctx.Err() != nil {
		t.Fatalf("did not finish: %s", out)
	}
	// The token went in with echo off: it is not on the terminal.
	if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "pty-ok") || strings.Contains(out, grant.Prefix) {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// sysnr is a system call number of the architecture the test runs on, for
// the attack lines that make raw calls through ctypes: x86-64's numbers
// are other calls on arm64 (129, x86-64's rt_sigqueueinfo, is arm64's
// kill), so a literal would test the wrong call there.
func sysnr(nr uintptr) string { return strconv.Itoa(int(nr)) }
