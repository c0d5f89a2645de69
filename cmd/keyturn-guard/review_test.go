//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/bastion/guard"
)

// The attacks of the adversarial review of the guard (see the README's
// "What the guard cannot see"): each one targets only P, a process the test
// started in a process group of its own.

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if !has(tool) {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// needPIDNamespace skips the test, or fails it under CI, where this user
// cannot make a PID namespace (unshare --pid).
func needPIDNamespace(t *testing.T) {
	t.Helper()
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare --pid: %v", err)
		}
		t.Skipf("unshare --pid: %v", err)
	}
}

// userNotifKill: the line installs a seccomp filter of its own that sends
// kill to a user-notification listener (a thread of the same python) and
// answers CONTINUE. USER_NOTIF takes precedence over the guard's TRACE, so
// without a defence the kill runs without the tracer ever seeing it.
const userNotifKill = `python3 -c '
import ctypes, os, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
prog = struct.pack("<HBBI", 0x20, 0, 0, 0) + struct.pack("<HBBI", 0x15, 0, 1, @KILL@) + \
       struct.pack("<HBBI", 0x06, 0, 0, 0x7fc00000) + struct.pack("<HBBI", 0x06, 0, 0, 0x7fff0000)
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack("<HxxxxxxQ", 4, ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog)
res = {}
def victim():
    libc.prctl(38, 1, 0, 0, 0)
    fd = libc.syscall(@SECCOMP@, 1, 8, fbuf)
    res["fd"] = fd
    res["errno"] = ctypes.get_errno()
    ready.set()
    if fd < 0:
        return
    r = libc.syscall(@KILL@, @P@, 15)
    res["kill"] = r
ready = threading.Event()
th = threading.Thread(target=victim)
th.start(); ready.wait()
print("listener", res["fd"], res["errno"], flush=True)
if res["fd"] >= 0:
    notif = ctypes.create_string_buffer(80)
    if libc.ioctl(res["fd"], ctypes.c_ulong(0xc0502100), notif) == 0:
        nid = struct.unpack_from("<Q", notif.raw, 0)[0]
        resp = ctypes.create_string_buffer(struct.pack("<QqiI", nid, 0, 0, 1))
        libc.ioctl(res["fd"], ctypes.c_ulong(0xc0182101), resp)
th.join()
print("kill returned", res.get("kill"), flush=True)
'`

// TestReviewUserNotifFilter: a filter with a user-notification listener
// cannot be installed in the tree, so kill keeps reaching the tracer.
func TestReviewUserNotifFilter(t *testing.T) {
	needTools(t, "python3")
	p := startVictim(t)
	o := runLine(t, strings.NewReplacer("@P@", strconv.Itoa(p.pid), "@KILL@", sysnr(unix.SYS_KILL),
		"@SECCOMP@", sysnr(unix.SYS_SECCOMP)).Replace(userNotifKill))
	time.Sleep(50 * time.Millisecond)
	if !p.alive() {
		t.Fatalf("a seccomp user-notification filter let kill reach P\nstdout: %s\nstderr: %s", o.stdout, o.stderr)
	}
	if !strings.Contains(o.stdout, "listener -1 1\n") {
		t.Errorf("want the listener refused with EPERM; stdout: %s\nstderr: %s", o.stdout, o.stderr)
	}
}

// pidfdSwap: one thread sends SIGTERM through pidfd N, which names a child
// of the tree, while another thread keeps replacing N with a pidfd of P.
// The tracer reads what N is at the seccomp stop; the kernel looks N up
// again when the call runs.
const pidfdSwap = `python3 -c '
import ctypes, os, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
inner = subprocess.Popen(["sh", "-c", "trap \"\" TERM; sleep 100"])
a = os.pidfd_open(inner.pid)
b = os.pidfd_open(@P@)
n = os.dup(a)
stop = False
def swap():
    while not stop:
        os.dup2(b, n); os.dup2(a, n)
th = threading.Thread(target=swap); th.start()
for i in range(200):
    libc.syscall(424, n, 15, None, 0)
stop = True; th.join()
inner.kill()
print("done", flush=True)
'`

// TestReviewPidfdSwap: the descriptor a pidfd_send_signal names cannot be
// swapped between the tracer's check and the kernel's use.
func TestReviewPidfdSwap(t *testing.T) {
	needTools(t, "python3", "sh", "sleep")
	for i := 0; i < 10; i++ {
		p := startVictim(t)
		o := runLine(t, strings.ReplaceAll(pidfdSwap, "@P@", strconv.Itoa(p.pid)))
		time.Sleep(50 * time.Millisecond)
		if !p.alive() {
			t.Fatalf("run %d: P died\nstdout: %s\nstderr: %s", i, o.stdout, o.stderr)
		}
	}
}

// ldsoExec: the dynamic loader runs a program in its own process without an
// exec of that program: the exec stop sees ld.so and the program as an
// argument.
func TestReviewLoaderExec(t *testing.T) {
	ldso := map[string]string{"amd64": "/lib64/ld-linux-x86-64.so.2", "arm64": "/lib/ld-linux-aarch64.so.1"}[runtime.GOARCH]
	if ldso == "" || !has(ldso) {
		t.Skipf("no dynamic loader at %q", ldso)
	}
	for name, line := range map[string]string{
		"plain":   ldso + ` "$HOME/zfs" destroy tank/x`,
		"options": ldso + ` --inhibit-cache --library-path /nonexistent "$HOME/zfs" destroy tank/x`,
		"argv0":   ldso + ` --argv0 zfs "$HOME/true" destroy tank/x`,
		"padded":  ldso + strings.Repeat(" --inhibit-cache", 40) + ` "$HOME/zfs" destroy tank/x`,
		"as name": `(exec -a ld-linux.so.2 ` + ldso + ` "$HOME/zfs" destroy tank/x)`,
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			for _, n := range []string{"zfs", "true"} {
				data, err := os.ReadFile("/bin/true")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(home+"/"+n, data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			o := runGrant(t, home, line)
			if name == "plain" {
				// What the loader runs that is not privileged runs.
				if o := runGrant(t, home, ldso+` "$HOME/true" && echo ran`); o.code != 0 || o.stdout != "ran\n" {
					t.Errorf("loader running true: exit %d, stdout %q, stderr %s", o.code, o.stdout, o.stderr)
				}
			}
			want := "blocked delete_snapshot"
			if name == "padded" {
				// Past the options it looks through, the loader's
				// program is held as unresolved; the words after it
				// also name the action they read as.
				want = "unresolved_command"
			}
			if o.code != guard.ExitBlocked || !strings.Contains(o.stderr, want) {
				t.Fatalf("line %q: exit %d, want %d (%s)\nstderr: %s", line, o.code, guard.ExitBlocked, want, o.stderr)
			}
		})
	}
}

// TestReviewPidfdAllowed: the guard sends a pidfd signal in the tracee's
// stead; inside the tree, and outside with a grant, it still arrives, and
// the caller sees the kernel's answer.
func TestReviewPidfdAllowed(t *testing.T) {
	needTools(t, "python3", "sleep")
	o := runLine(t, `python3 -c 'import os, signal, subprocess
p = subprocess.Popen(["sleep", "100"])
signal.pidfd_send_signal(os.pidfd_open(p.pid), signal.SIGTERM)
print("child", p.wait())
try:
    signal.pidfd_send_signal(os.pidfd_open(p.pid) if False else os.open("/", os.O_RDONLY), signal.SIGTERM)
except OSError as e:
    print("not a pidfd", e.errno)'`)
	if o.code != 0 || !strings.Contains(o.stdout, "child -15\n") || !strings.Contains(o.stdout, "not a pidfd 9\n") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", o.code, o.stdout, o.stderr)
	}
	p := startVictim(t)
	o = runLine(t, strings.ReplaceAll(`python3 -c 'import os, signal; signal.pidfd_send_signal(os.pidfd_open(P), 15)'`, "P", strconv.Itoa(p.pid)), "kill_process")
	if o.code != 0 {
		t.Fatalf("granted: exit %d\nstderr: %s", o.code, o.stderr)
	}
	p.waitDead(t)
}

// inNamespace runs script with sh in a PID namespace of its own (so that
// the pid numbers the test sets are free, and nothing outside is hit), with
// the guard as $0 and its command as $1, playing the gate for line.
func inNamespace(t *testing.T, home, script, line string) string {
	t.Helper()
	needTools(t, "unshare", "nsenter", "perl", "sleep")
	needPIDNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	c := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script, guardBin, guard.Command)
	c.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	out, _ := startSession(t, c, true, grantSpec{line: line}).finish(t)
	if ctx.Err() != nil {
		t.Fatalf("did not finish: %s", out)
	}
	return out
}

// TestReviewForeignPidNamespace: pid numbers in a signal call are the
// sender's namespace's. A tree member that joins P's namespace (nsenter,
// as root) and sends to the number that is P there, while the same number
// in the guard's namespace is a process of the tree, must not reach P.
func TestReviewForeignPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("joining another PID namespace needs root")
	}
	home := t.TempDir()
	// P is pid 5000 in a namespace of its own; the line makes 5000 in
	// the guard's namespace a sleep of its own, then sends from P's.
	line := `echo 4999 > /proc/sys/kernel/ns_last_pid; sleep 100 & echo "tree=$!"; ` +
		`nsenter -t "$(cat "$HOME/s")" --pid perl -e 'print "kill=", kill(15, 5000), "\n"'`
	out := inNamespace(t, home, `
unshare --pid --fork --mount-proc --kill-child sh -c 'echo 4999 > /proc/sys/kernel/ns_last_pid; sleep 1000 & wait' &
u=$!
i=0
while [ -z "$p" ] && [ $i -lt 2000 ]; do
	i=$((i+1)); read s 2>/dev/null < /proc/$u/task/$u/children; read p 2>/dev/null < /proc/$s/task/$s/children
done
echo $s > "$HOME/s"
"$0" -c "$1"; echo "guard=$?"
echo "P=$p"; kill -0 $p && echo P-alive; kill $u`, line)
	if !strings.Contains(out, "tree=5000") {
		t.Fatalf("could not set up the pid numbers:\n%s", out)
	}
	if !strings.Contains(out, "P-alive") || !strings.Contains(out, fmt.Sprintf("guard=%d", guard.ExitBlocked)) ||
		!strings.Contains(out, "kill(5000 (in another pid namespace), SIGTERM)") {
		t.Fatalf("a signal from another pid namespace was not blocked:\n%s", out)
	}
}

// TestReviewOwnPidNamespace: a namespace the tree made holds only the
// tree; signals by its numbers are translated and pass.
func TestReviewOwnPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root")
	}
	needTools(t, "unshare", "sleep")
	o := runLine(t, `unshare --pid --fork sh -c 'sleep 5 & p=$!; k=kill; $k $p; wait $p; echo "ns-ok $?"'`)
	if o.code != 0 || o.stdout != "ns-ok 143\n" {
		t.Fatalf("exit %d, stdout %q\nstderr: %s", o.code, o.stdout, o.stderr)
	}
}

// ttyVictim is P on a terminal of its own: `script` gives sleep a
// pseudo-terminal whose foreground it is. It returns P's pid and the
// terminal's path.
func ttyVictim(t *testing.T) (*victim, string) {
	t.Helper()
	needTools(t, "script", "sleep")
	c := exec.Command("script", "-qec", "exec sleep 1000", "/dev/null")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	t.Cleanup(func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL); <-done })
	// script's child is the sleep, leading a session on the terminal.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.Process.Pid, c.Process.Pid))
		if f := strings.Fields(string(data)); len(f) == 1 {
			pid, _ := strconv.Atoi(f[0])
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			tty, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid))
			if err == nil && strings.TrimSpace(string(comm)) == "sleep" && strings.HasPrefix(tty, "/dev/pts/") {
				return &victim{pid: pid, done: make(chan struct{})}, tty
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("script did not start sleep on a terminal within 30s")
	return nil, ""
}

// TestReviewTerminalIoctls: with CAP_SYS_ADMIN a process may type into any
// terminal (TIOCSTI: a ^C is SIGINT to its foreground) and hang any up
// (TIOCVHANGUP: SIGHUP to its session). Both reach P without a signal call.
func TestReviewTerminalIoctls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reaching another session's terminal needs CAP_SYS_ADMIN")
	}
	needTools(t, "python3")
	for name, call := range map[string]string{
		"TIOCSTI":     `fcntl.ioctl(fd, termios.TIOCSTI, b"\x03")`,
		"TIOCVHANGUP": `fcntl.ioctl(fd, 0x5437)`,
	} {
		t.Run(name, func(t *testing.T) {
			p, tty := ttyVictim(t)
			o := runLine(t, `python3 -c 'import fcntl, os, termios
fd = os.open("`+tty+`", os.O_RDWR | os.O_NOCTTY)
try:
    `+call+`
    print("done")
except OSError as e:
    print("errno", e.errno)'`)
			time.Sleep(100 * time.Millisecond)
			if !pidAlive(p.pid) {
				t.Fatalf("%s reached P\nstdout: %s\nstderr: %s", name, o.stdout, o.stderr)
			}
			if o.stdout != "errno 1\n" {
				t.Errorf("want EPERM; stdout %q, stderr %s", o.stdout, o.stderr)
			}
		})
	}
}

// TestReviewExecForms: ways to start a program other than a plain exec of
// it by name are decided on the program that runs. $HOME/zfs is a copy of
// true, so only the decision can stop it; P is a process outside the tree.
func TestReviewExecForms(t *testing.T) {
	cases := []struct {
		name, line, action, want string
		tools                    []string
	}{
		{"shebang interpreter", `printf '#!%s/zfs destroy\n' "$HOME" > "$HOME/s"; chmod +x "$HOME/s"; "$HOME/s" tank/x`,
			"delete_snapshot", "zfs destroy", nil},
		{"exec through /proc/self/fd", `exec 9<"$HOME/zfs"; /proc/self/fd/9 destroy tank/x`, "delete_snapshot", "/zfs (as /proc/self/fd/9) destroy tank/x", nil},
		{"memfd fexecve", `python3 -c 'import os
fd = os.memfd_create("x", 0)
os.write(fd, open(os.environ["HOME"] + "/zfs", "rb").read())
os.execve(fd, ["z" + "fs", "de" + "stroy", "tank/x"], {})'`, "delete_snapshot", "/memfd:x (deleted) (as zfs) destroy tank/x", []string{"python3"}},
		{"execveat AT_EMPTY_PATH", `python3 -c 'import ctypes, os
fd = os.open(os.environ["HOME"] + "/zfs", os.O_RDONLY)
argv = (ctypes.c_char_p * 4)(b"x", b"destroy", b"tank/x", None)
ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_EXECVEAT) + `, fd, b"", argv, None, 0x1000)'`, "delete_snapshot", "/zfs (as x) destroy tank/x", []string{"python3"}},
		// What the tree names reaches the admin's terminal: control
		// characters are escaped, so no fake line or screen redraw.
		{"control characters in argv", `exec -a $'zfs\e[2K\nkeyturn-guard: ok' "$HOME/zfs" destroy tank/x`,
			"delete_snapshot", `(as 'zfs\x1b[2K\nkeyturn-guard: ok') destroy tank/x`, nil},
		{"posix_spawn (vfork)", `python3 -c 'import os; os.waitpid(os.posix_spawn("/bin/kill", ["kill", "P"], {}), 0)'`,
			"kill_process", "/usr/bin/kill P, started by python3", []string{"python3", "kill"}},
		// The leader exits (SYS_exit, this thread only) and a thread
		// executes kill afterwards: its exec takes the leader's pid.
		{"exec after the leader exited", `python3 -c 'import ctypes, os, threading, time
def later():
    time.sleep(0.3)
    os.execv("/bin/kill", ["kill", "P"])
threading.Thread(target=later).start()
ctypes.CDLL(None).syscall(` + sysnr(unix.SYS_EXIT) + `, 0)'`, "kill_process", "/usr/bin/kill P", []string{"python3", "kill"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			needTools(t, tc.tools...)
			p := startVictim(t)
			pid := strconv.Itoa(p.pid)
			home := t.TempDir()
			data, err := os.ReadFile("/bin/true")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(home+"/zfs", data, 0o755); err != nil {
				t.Fatal(err)
			}
			line := strings.ReplaceAll(tc.line, "P", pid)
			o := runGrant(t, home, line)
			want := strings.ReplaceAll(tc.want, "P", pid)
			if o.code != guard.ExitBlocked || !strings.Contains(o.stderr, "blocked "+tc.action+": ") || !strings.Contains(o.stderr, want) {
				t.Fatalf("line %q: exit %d, want %d naming %s and %q\nstderr: %s", line, o.code, guard.ExitBlocked, tc.action, want, o.stderr)
			}
			time.Sleep(50 * time.Millisecond)
			if !p.alive() {
				t.Errorf("line %q killed P", line)
			}
		})
	}
}

// TestReviewLongArgv: an argv longer than the tracer reads (possible with a
// raised stack limit) cannot be decided, so the tree is stopped.
func TestReviewLongArgv(t *testing.T) {
	needTools(t, "python3", "true")
	home := t.TempDir()
	marker := home + "/after"
	o := runGrant(t, home, `ulimit -s 65536 && python3 -c 'import os; os.execv("/bin/true", ["true"] + ["a" * 100000] * 45)'; touch `+marker)
	if o.code != guard.ExitInternal || !strings.Contains(o.stderr, "is over") {
		t.Fatalf("exit %d, want %d (internal, tree stopped)\nstderr: %s", o.code, guard.ExitInternal, o.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the line went on after an argv the tracer could not read")
	}
}

// TestReviewForgedReport: a line that prints a report of its own and exits
// as a blocked line would does not pass for one: its status is mapped.
func TestReviewForgedReport(t *testing.T) {
	o := runLine(t, `echo 'keyturn-guard: blocked kill_process: /usr/bin/kill 1' >&2; echo 'keyturn-guard-report: {"v":1,"actions":["kill_process"],"observed":"/usr/bin/kill 1"}' >&2; exit 121`)
	if o.code != guard.ExitCollided {
		t.Fatalf("exit %d, want %d\nstderr: %s", o.code, guard.ExitCollided, o.stderr)
	}
	for _, code := range []int{guard.ExitUsage, guard.ExitInternal, guard.ExitDenied, guard.ExitGrant} {
		if o := runLine(t, fmt.Sprintf("exit %d", code)); o.code != guard.ExitCollided {
			t.Errorf("exit %d: got %d, want %d", code, o.code, guard.ExitCollided)
		}
	}
	if o := runLine(t, "exit 117"); o.code != 117 {
		t.Errorf("exit 117: got %d", o.code)
	}
}

// TestReviewLimitsAndPerf: new resource limits for P kill it (RLIMIT_FSIZE
// is SIGXFSZ at its next write), and a perf event with sigtrap on P sends it
// SIGTRAP; both are decided like a signal to P. The same calls on the
// tree's own processes, and reading P's limits, pass.
func TestReviewLimitsAndPerf(t *testing.T) {
	needTools(t, "python3", "sh", "sleep")
	// P writes a line to a file of its own every 0.05s.
	home := t.TempDir()
	p := startVictimCmd(t, exec.Command("sh", "-c", `while :; do echo x >> "$0"; sleep 0.05; done`, home+"/p.out"))
	pid := strconv.Itoa(p.pid)

	o := runLine(t, `python3 -c 'import resource; resource.prlimit(`+pid+`, resource.RLIMIT_FSIZE, (1, 1))'`)
	time.Sleep(300 * time.Millisecond)
	if !p.alive() {
		t.Fatalf("prlimit killed P\nstderr: %s", o.stderr)
	}
	if o.code != guard.ExitBlocked || !strings.Contains(o.stderr, "blocked kill_process: prlimit64 RLIMIT_FSIZE("+pid+" (sh), SIGKILL)") {
		t.Errorf("prlimit: exit %d\nstderr: %s", o.code, o.stderr)
	}
	perf := `python3 -c 'import ctypes, struct
attr = struct.pack("<IIQQQQQ", 1, 136, 1, 1000000, 0, 0, (1 << 36) | (1 << 37)) + bytes(136 - 48)
fd = ctypes.CDLL(None, use_errno=True).syscall(` + sysnr(unix.SYS_PERF_EVENT_OPEN) + `, ctypes.create_string_buffer(attr), @P@, -1, -1, 0)
print("fd", fd >= 0 or ctypes.get_errno())'`
	o = runLine(t, strings.ReplaceAll(perf, "@P@", pid))
	if o.code != guard.ExitBlocked || !strings.Contains(o.stderr, "blocked kill_process: perf_event_open("+pid+" (sh), SIGTRAP)") {
		t.Errorf("perf_event_open: exit %d\nstdout: %s\nstderr: %s", o.code, o.stdout, o.stderr)
	}
	// Reading P's limits, and limits and events on the tree's own.
	o = runLine(t, `python3 -c 'import resource, subprocess
print(resource.prlimit(`+pid+`, resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY)
c = subprocess.Popen(["sleep", "100"])
resource.prlimit(c.pid, resource.RLIMIT_NOFILE, (64, 64))
print(resource.prlimit(c.pid, resource.RLIMIT_NOFILE) == (64, 64))
c.kill()'`)
	if o.code != 0 || o.stdout != "True\nTrue\n" {
		t.Errorf("own limits: exit %d, stdout %q\nstderr: %s", o.code, o.stdout, o.stderr)
	}
	if !p.alive() {
		t.Fatal("P died")
	}
}

// TestReviewSharedConfig: a gate.pub or policies.yaml (or their directory)
// that a group or others may write is refused: whoever can write gate.pub
// signs his own grants.
func TestReviewSharedConfig(t *testing.T) {
	for _, name := range []string{"", "gate.pub", "policies.yaml", "target"} {
		t.Run("writable "+name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"keyturn-guard", "gate.pub", "policies.yaml", "target"} {
				data, err := os.ReadFile(installDir + "/" + f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dir+"/"+f, data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir+"/"+name, 0o777); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
			defer cancel()
			marker := t.TempDir() + "/ran"
			c := exec.CommandContext(ctx, dir+"/keyturn-guard", "-c", guard.Command)
			c.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
			s := startSession(t, c, true, grantSpec{line: "touch " + marker})
			out, code := s.finish(t)
			if s.challenge != "" || code != guard.ExitInternal || !strings.Contains(out, "writable by group or others") {
				t.Fatalf("exit %d (challenge %q): %s", code, s.challenge, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the line ran")
			}
		})
	}
}

// TestReviewNothingLeftBehind: processes that leave the root's care (a
// setsid double fork, a CLONE_PARENT child whose parent is the guard itself)
// are gone when the guard has exited.
func TestReviewNothingLeftBehind(t *testing.T) {
	needTools(t, "setsid", "python3", "sleep")
	home := t.TempDir()
	o := runGrant(t, home, `setsid -f sh -c 'echo $$ > "$HOME/daemon"; exec sleep 1000'
python3 -c 'import ctypes, os
pid = ctypes.CDLL(None).syscall(`+sysnr(unix.SYS_CLONE)+`, 0x00008000 | 17, 0, 0, 0, 0)
if pid == 0:
    os.execv("/bin/sleep", ["sleep", "1000"])
open(os.environ["HOME"] + "/sibling", "w").write(str(pid))'
i=0; while [ ! -s "$HOME/daemon" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done`)
	if o.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", o.code, o.stderr)
	}
	for _, f := range []string{"daemon", "sibling"} {
		data, err := os.ReadFile(home + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			t.Fatalf("%s: %q", f, data)
		}
		if pidAlive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s (%d) outlived the guard", f, pid)
		}
	}
}
