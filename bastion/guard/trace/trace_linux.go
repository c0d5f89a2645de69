//go:build linux

package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// childArg marks the re-executed child in os.Args[1]. sshd always passes
// "-c" there, so a login cannot reach child mode.
const childArg = "--keyturn-guard-traced-child"

// The child says it is ready on readyFd, then waits on syncFd until the
// tracer has attached. Attaching after the child's Go runtime has started
// its threads keeps their creation out of the tracer's way (each would be a
// clone event and a first stop, a few milliseconds of startup).
const (
	syncFd  = 3
	readyFd = 4
)

// maxCmdline bounds how much of a program's argv the tracer reads.
const maxCmdline = 4 << 20

// IsChild reports whether this process is the guard's re-executed child;
// the program must then call [ChildMain] before doing anything else.
func IsChild() bool { return len(os.Args) == 2 && os.Args[1] == childArg }

// maxArgv bounds the argv frame the child accepts from the tracer.
const maxArgv = maxCmdline

// ChildMain says it is ready, reads the argv to run from the tracer, waits
// for the tracer's release, installs the seccomp filter on every thread and
// executes the argv. It never returns. The calling goroutine must be locked
// to the main thread (LockOSThread in an init function), so that the exec
// comes from the traced thread group leader.
func ChildMain() {
	if _, err := unix.Write(readyFd, []byte{1}); err != nil {
		fmt.Fprintf(os.Stderr, "keyturn-guard: child: %v\n", err)
		os.Exit(126)
	}
	unix.Close(readyFd)
	argv, err := readArgv(syncFd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyturn-guard: child: tracer went away (%v)\n", err)
		os.Exit(126)
	}
	var b [1]byte
	if err := readFull(syncFd, b[:]); err != nil {
		fmt.Fprintf(os.Stderr, "keyturn-guard: child: tracer went away (%v)\n", err)
		os.Exit(126)
	}
	unix.Close(syncFd)
	if err := installFilter(); err != nil {
		fmt.Fprintf(os.Stderr, "keyturn-guard: child: seccomp: %v\n", err)
		os.Exit(126)
	}
	err = unix.Exec(argv[0], argv, os.Environ())
	fmt.Fprintf(os.Stderr, "keyturn-guard: child: exec %s: %v\n", argv[0], err)
	os.Exit(127)
}

// argvFrame is how the tracer hands the child what to run: the length of
// the rest (4 bytes, little-endian), then each argument followed by a NUL.
// The child is started before the tracer knows the line (see [Start]), so
// argv cannot travel on its command line.
func argvFrame(argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("trace: empty argv")
	}
	n := 0
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, errors.New("trace: an argument holds a NUL byte")
		}
		n += len(a) + 1
	}
	if n > maxArgv {
		return nil, fmt.Errorf("trace: argv of %d bytes is over %d", n, maxArgv)
	}
	b := make([]byte, 4, 4+n)
	b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	for _, a := range argv {
		b = append(b, a...)
		b = append(b, 0)
	}
	return b, nil
}

// parseArgv reads the body of an argv frame.
func parseArgv(body []byte) ([]string, error) {
	if len(body) == 0 || body[len(body)-1] != 0 {
		return nil, errors.New("argv frame not NUL-terminated")
	}
	return strings.Split(string(body[:len(body)-1]), "\x00"), nil
}

// readArgv reads an argv frame from fd.
func readArgv(fd int) ([]string, error) {
	var hdr [4]byte
	if err := readFull(fd, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16 | int(hdr[3])<<24
	if n <= 0 || n > maxArgv {
		return nil, fmt.Errorf("argv frame of %d bytes", n)
	}
	body := make([]byte, n)
	if err := readFull(fd, body); err != nil {
		return nil, err
	}
	return parseArgv(body)
}

// readFull fills b from fd, retrying on EINTR; a short read is an error.
func readFull(fd int, b []byte) error {
	for off := 0; off < len(b); {
		n, err := unix.Read(fd, b[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		off += n
	}
	return nil
}

// Config is what to run.
type Config struct {
	// Argv is the program (an absolute path) and its arguments.
	Argv []string
	// Env is the child's environment when [Run] starts it; a child from
	// [Start] has the one given there.
	Env []string
	// Decider is asked about every exec and every signal leaving the tree.
	Decider Decider
	// Release, if set, is called once the child is traced and before it
	// is let go to install its filter and execute Argv; the caller can
	// finish work it overlapped with the child's start (the guard parses
	// its policy meanwhile). An error kills the child, nothing of Argv
	// runs, and Run returns the error.
	Release func() error
}

// tracer is the state of one run; it lives on one locked OS thread.
type tracer struct {
	tree    *Tree
	dec     Decider
	self    string       // the guard's own executable
	started map[int]bool // tids whose first stop was seen
	pidNS   uint64       // the guard's pid namespace, whose numbers /proc shows
	res     Result
}

// Child is the guard's re-executed child, started by [Start] before the
// caller knows what it will run. It runs nothing until [Child.Run] has sent
// it an argv, attached to it and released it.
type Child struct {
	pid   int
	sync  *os.File // write end: the argv frame, then the release byte
	ready *os.File // read end: the child's runtime is up
	self  string
	ns    uint64
	done  bool
}

// Start starts the child with env as its environment, so that its process
// and Go runtime start overlap the caller's own work (the guard's
// handshake). It locks the calling goroutine to its OS thread for good:
// that thread is the child's parent (Pdeathsig fires when it exits) and
// must be the tracer, so [Child.Run] must be called from the same
// goroutine. On a terminal the child takes the terminal's foreground
// process group at once; a caller that still reads from the terminal must
// start it afterwards.
func Start(env []string) (*Child, error) {
	runtime.LockOSThread()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("trace: own executable: %w", err)
	}
	ns, err := pidNS(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("trace: own pid namespace: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("trace: pipe: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("trace: pipe: %w", err)
	}
	sys := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if term.IsTerminal(0) {
		// Keep the session and its terminal; a group of its own that
		// owns the foreground makes job-control signals stay inside.
		sys = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"keyturn-guard", childArg}, &syscall.ProcAttr{
		Env: env, Files: []uintptr{0, 1, 2, r.Fd(), readyW.Fd()}, Sys: sys,
	})
	r.Close()
	readyW.Close()
	if err != nil {
		w.Close()
		readyR.Close()
		return nil, fmt.Errorf("trace: start child: %w", err)
	}
	return &Child{pid: pid, sync: w, ready: readyR, self: self, ns: ns}, nil
}

// Abort kills and reaps a child that was started and not run; it does
// nothing after [Child.Run].
func (c *Child) Abort() {
	if c == nil || c.done {
		return
	}
	c.done = true
	c.kill()
}

func (c *Child) kill() {
	unix.Kill(c.pid, unix.SIGKILL)
	c.sync.Close()
	c.ready.Close()
	wait4(c.pid)
}

// wait4 waits for pid (-1: any tracee or child) to change state, again
// when a signal interrupts the wait.
func wait4(pid int) (int, unix.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err != unix.EINTR {
			return tid, ws, err
		}
	}
}

// Run starts cfg.Argv as a traced tree and returns when its root exits or
// the tree is blocked. It locks the calling goroutine to its OS thread for
// good: the tracer is that thread, and if it exited, EXITKILL would kill the
// tree. Processes of the tree still running when the root exits are killed.
func Run(cfg Config) (*Result, error) {
	if err := checkArgv(cfg.Argv); err != nil {
		return nil, err
	}
	c, err := Start(cfg.Env)
	if err != nil {
		return nil, err
	}
	return c.Run(cfg)
}

func checkArgv(argv []string) error {
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
		return errors.New("trace: program must be an absolute path")
	}
	_, err := argvFrame(argv)
	return err
}

// Run is [Run] for a child started earlier; cfg.Env is not used (the child
// has the environment given to [Start]). It must be called once, from the
// goroutine that called Start; on an error the child is killed and nothing
// of cfg.Argv has run.
func (c *Child) Run(cfg Config) (*Result, error) {
	runtime.LockOSThread()
	if c.done {
		return nil, errors.New("trace: child already used")
	}
	c.done = true
	frame, err := argvFrame(cfg.Argv)
	if err == nil {
		err = checkArgv(cfg.Argv)
	}
	if err != nil {
		c.kill()
		return nil, err
	}
	// The child reads the frame before its release; if it died, the write
	// fails (EPIPE) or the seize below does.
	if _, err := c.sync.Write(frame); err != nil {
		c.kill()
		return nil, fmt.Errorf("trace: send argv to child: %w", err)
	}
	// Wait for the child's runtime to be up; if it died, the read ends
	// with EOF and the seize below fails or the wait reports its exit.
	c.ready.Read(make([]byte, 1))
	c.ready.Close()
	pid := c.pid
	const opts = unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
		unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACESECCOMP
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, opts, 0, 0); e != 0 {
		c.kill()
		return nil, fmt.Errorf("trace: PTRACE_SEIZE: %w", e)
	}
	if cfg.Release != nil {
		if err := cfg.Release(); err != nil {
			c.kill()
			return nil, err
		}
	}
	// The child proceeds only now, traced; if this write fails it exits.
	_, werr := c.sync.Write([]byte{1})
	c.sync.Close()
	t := &tracer{tree: NewTree(pid), dec: cfg.Decider, started: map[int]bool{pid: true}, self: c.self, pidNS: c.ns}
	if werr != nil {
		t.killAll()
		return nil, fmt.Errorf("trace: release child: %w", werr)
	}
	res, err := t.loop()
	if err != nil {
		t.killAll()
	}
	return res, err
}

// killAll kills every process of the tree and waits until every tracee is
// gone, killing any the tree did not know yet (a child whose fork event was
// not seen) at its next stop. Once it returns nothing of the tree can write
// to the guard's stdout or stderr any more: a report the guard writes then
// is the last thing there.
func (t *tracer) killAll() {
	for _, pid := range t.tree.Pids() {
		unix.Kill(pid, unix.SIGKILL)
	}
	for {
		tid, ws, err := wait4(-1)
		if err != nil {
			return // ECHILD: no tracee and no child left
		}
		if ws.Stopped() {
			unix.Kill(tid, unix.SIGKILL)
		}
	}
}

func (t *tracer) loop() (*Result, error) {
	root := t.tree.Root()
	for {
		tid, ws, err := wait4(-1)
		if err != nil {
			return nil, fmt.Errorf("trace: wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			delete(t.started, tid)
			t.tree.Exit(tid)
			if tid == root {
				if ws.Exited() {
					t.res.Exit = ws.ExitStatus()
				} else {
					t.res.Exit = 128 + int(ws.Signal())
				}
				t.killAll()
				return &t.res, nil
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		if err := t.stop(tid, ws); err != nil {
			return nil, err
		}
		if t.res.Blocked != nil {
			t.killAll()
			return &t.res, nil
		}
	}
}

// stop handles one ptrace stop of tid and restarts it (unless the tree is
// being blocked).
func (t *tracer) stop(tid int, ws unix.WaitStatus) error {
	sig := ws.StopSignal()
	ev := int(ws>>16) & 0xff
	if !t.tree.ContainsTask(tid) {
		// A child's first stop may come before its parent's fork event.
		if err := t.adopt(tid, 0); err != nil {
			return err
		}
	}
	first := !t.started[tid]
	t.started[tid] = true
	switch ev {
	case 0: // signal-delivery-stop: deliver it
		return cont(tid, int(sig))
	case unix.PTRACE_EVENT_STOP:
		if !first && (sig == unix.SIGSTOP || sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU) {
			// group-stop: stay stopped, as kill -STOP means, but
			// keep reporting events.
			return ignoreGone(ptraceListen(tid))
		}
		return cont(tid, 0)
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		msg, err := unix.PtraceGetEventMsg(tid)
		if err != nil {
			return ignoreGone(err)
		}
		tgid, _ := t.tree.Tgid(tid)
		if ev != unix.PTRACE_EVENT_CLONE {
			// fork and vfork always make a process: no /proc read.
			if !t.tree.AddProcess(int(msg), tgid) {
				return fmt.Errorf("trace: cannot record process %d (tree of %d)", msg, t.tree.Len())
			}
		} else if err := t.adopt(int(msg), tgid); err != nil {
			return err
		}
		return cont(tid, 0)
	case unix.PTRACE_EVENT_EXEC:
		former, err := unix.PtraceGetEventMsg(tid)
		if err != nil {
			return ignoreGone(err)
		}
		if int(former) != tid {
			delete(t.started, int(former))
		}
		return t.exec(tid, int(former))
	case unix.PTRACE_EVENT_SECCOMP:
		return t.signal(tid)
	}
	return cont(tid, 0)
}

// adopt records a new task. parent is the tgid of the task that reported
// creating it, or 0 when its first stop came first and /proc must say.
func (t *tracer) adopt(tid, parent int) error {
	tgid, ppid, err := taskIDs(tid)
	if err != nil {
		if parent == 0 {
			return fmt.Errorf("trace: new task %d: %w", tid, err)
		}
		tgid = tid // gone already; record it as a process until its exit
	}
	if tgid != tid {
		if t.tree.AddThread(tid, tgid) {
			return nil
		}
		return fmt.Errorf("trace: thread %d of unknown process %d", tid, tgid)
	}
	if parent == 0 {
		parent = ppid
	}
	if t.tree.AddProcess(tid, parent) || t.tree.AddProcess(tid, t.tree.Root()) {
		return nil
	}
	return fmt.Errorf("trace: cannot record process %d (tree of %d)", tid, t.tree.Len())
}

func (t *tracer) exec(tid, former int) error {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(tid) + "/exe")
	if err != nil {
		return fmt.Errorf("trace: executable of %d: %w", tid, err)
	}
	argv, err := readCmdline(tid)
	if err != nil {
		return err
	}
	im := Image{Exe: exe, Argv: argv}
	if tid == t.tree.Root() && !t.res.Started && exe == t.self {
		// The child's own exec of the guard binary, seen when the
		// seize landed before its exec stop.
		return cont(tid, 0)
	}
	p, ok := t.tree.Exec(tid, former, im)
	if !ok {
		return fmt.Errorf("trace: exec by unknown task %d", tid)
	}
	if p.Pid == t.tree.Root() && !t.res.Started {
		// The root's first program is the one Run was asked to start
		// (the shell with the signed line, which the gate decided):
		// what it goes on to do is what the tracer checks.
		t.res.Started = true
		return cont(tid, 0)
	}
	if v := t.dec.Exec(im); v != nil {
		t.block(*v, im.String(), t.tree.Chain(p.Pid))
		return nil
	}
	return cont(tid, 0)
}

func (t *tracer) block(v Verdict, what string, chain []string) {
	var b strings.Builder
	b.WriteString(what)
	for _, c := range chain {
		b.WriteString(", started by ")
		b.WriteString(c)
	}
	t.res.Blocked = &Blocked{Verdict: v, Observed: printable(b.String())}
}

// target is what a signal call aims at.
type target struct {
	pid   int  // process (tgid), or process group id when group
	group bool // every process in group pid
	all   bool // kill(-1): everything the sender may signal
	task  bool // pid is a tid (tkill)
}

// signal handles the seccomp stop of a signal call.
func (t *tracer) signal(tid int) error {
	nr, a, err := syscallArgs(tid)
	if err != nil {
		return ignoreGone(err)
	}
	call, ok := signalCalls[nr]
	switch nr {
	case unix.SYS_FCNTL:
		call, ok = "fcntl F_SETOWN", int(int32(a[1])) == unix.F_SETOWN
	case unix.SYS_PRLIMIT64:
		call, ok = "prlimit64 "+rlimitName(a[1]), true
	case unix.SYS_PERF_EVENT_OPEN:
		call, ok = "perf_event_open", true
	}
	if !ok {
		// Only signal calls return TRACE; anything else is a bug or a
		// filter from inside the tree: refuse it.
		return t.refuse(tid, unix.EPERM)
	}
	sender, _ := t.tree.Tgid(tid)
	// allow lets the call run as asked.
	allow := func() error { return cont(tid, 0) }
	var tg target
	var sig int
	switch nr {
	case unix.SYS_KILL:
		pid := int(int32(a[0]))
		sig = int(int32(a[1]))
		switch {
		case pid > 0:
			tg = target{pid: pid}
		case pid == 0:
			pg, err := pgrpOf(sender)
			if err != nil {
				return t.refuse(tid, unix.ESRCH)
			}
			tg = target{pid: pg, group: true}
		case pid == -1:
			tg = target{all: true}
		default:
			tg = target{pid: -pid, group: true}
		}
	case unix.SYS_TKILL:
		tg, sig = target{pid: int(int32(a[0])), task: true}, int(int32(a[1]))
	case unix.SYS_TGKILL, unix.SYS_RT_TGSIGQUEUEINFO:
		tg, sig = target{pid: int(int32(a[0]))}, int(int32(a[2]))
	case unix.SYS_RT_SIGQUEUEINFO:
		tg, sig = target{pid: int(int32(a[0]))}, int(int32(a[1]))
	case unix.SYS_FCNTL:
		// The file's owner gets SIGIO (or the F_SETSIG signal) later;
		// a negative owner is a process group, 0 clears it.
		sig = int(unix.SIGIO)
		switch owner := int(int32(a[2])); {
		case owner > 0:
			tg = target{pid: owner}
		case owner < 0:
			tg = target{pid: -owner, group: true}
		default:
			return cont(tid, 0)
		}
	case unix.SYS_PRLIMIT64:
		if a[2] == 0 {
			return cont(tid, 0) // reads the limits only
		}
		// New limits for another process may kill it (see the filter);
		// they are decided as SIGKILL. The pid may be any thread's.
		tg, sig = target{pid: int(int32(a[0])), task: true}, int(unix.SIGKILL)
	case unix.SYS_PERF_EVENT_OPEN:
		if a[4]&perfFlagPidCgroup != 0 {
			return cont(tid, 0) // pid is a cgroup's descriptor: no task to signal
		}
		// The event may send SIGTRAP to the thread it watches.
		tg, sig = target{pid: int(int32(a[1])), task: true}, int(unix.SIGTRAP)
	case unix.SYS_PIDFD_SEND_SIGNAL:
		sig = int(int32(a[1]))
		// The descriptor is a number in a table other threads (or
		// CLONE_FILES processes) share: between this check and the
		// kernel's lookup they could make it name another process. So
		// the tracer takes the open file itself, checks that, and sends
		// the signal through it in the tracee's stead.
		held, err := holdFd(tid, sender, int(int32(a[0])))
		if err != nil {
			return t.refuse(tid, unix.EBADF)
		}
		defer unix.Close(held)
		allow = func() error { return sendPidfd(tid, held, sig, a[2], a[3]) }
		pid, err := pidfdTarget(os.Getpid(), held)
		if err != nil {
			// Not a pidfd we can read: the call would fail or hit
			// something unknown. Fail closed.
			return t.refuse(tid, unix.EBADF)
		}
		if pid <= 0 {
			return t.refuse(tid, unix.ESRCH) // the process has exited
		}
		tg = target{pid: pid}
		if a[3]&pidfdSignalProcessGroup != 0 {
			pg, err := pgrpOf(pid)
			if err != nil {
				return t.refuse(tid, unix.ESRCH)
			}
			tg = target{pid: pg, group: true}
		}
	}
	if tg.pid <= 0 && !tg.all {
		return allow() // the kernel refuses these itself
	}
	if nr != unix.SYS_PIDFD_SEND_SIGNAL && !tg.all && !(nr == unix.SYS_KILL && int32(a[0]) == 0) {
		// The number is one of the sender's pid namespace, the tracer
		// reads /proc in its own: a tree member that joined another
		// namespace (nsenter) could name a process outside the tree by
		// the number of one inside.
		ns, err := pidNS(tid)
		if err != nil {
			return t.refuse(tid, unix.EPERM)
		}
		if ns != t.pidNS {
			g, ok := t.translate(ns, tg)
			if !ok {
				return t.foreign(tid, sender, call, sig, tg, allow)
			}
			tg.pid = g
		}
	}
	inside, exists := t.inside(tg)
	if inside {
		return allow()
	}
	if !tg.group && !tg.all && t.ourZombie(tg.pid) {
		// A child of the tree that has exited and is not reaped yet
		// (timeout signals its child after it died): a signal to a
		// zombie does nothing and succeeds. Answer so without running
		// the call, so the pid cannot be reused in between. The calls
		// that are not signals fail as they would on an exited process.
		if nr == unix.SYS_PRLIMIT64 || nr == unix.SYS_PERF_EVENT_OPEN {
			return t.refuse(tid, unix.ESRCH)
		}
		return t.refuse(tid, 0)
	}
	if !exists {
		// Nothing to hit: answer as the kernel would, without running
		// the call, so a pid freed meanwhile cannot be hit either.
		return t.refuse(tid, unix.ESRCH)
	}
	s := Signal{Call: call, Sig: sig, Pid: tg.pid}
	if tg.group {
		s.Pid = -tg.pid
	} else if tg.all {
		s.Pid = -1
	} else {
		s.Target = procName(tg.pid)
	}
	return t.judge(tid, sender, s, "", allow)
}

// foreign decides a signal to a number of another pid namespace that names
// no process of the tree there: it may be any process, so the policy
// decides it as a signal outside the tree.
func (t *tracer) foreign(tid, sender int, call string, sig int, tg target, allow func() error) error {
	s := Signal{Call: call, Sig: sig, Pid: tg.pid, Target: "in another pid namespace"}
	note := ""
	if tg.group {
		s.Pid, s.Target = -tg.pid, ""
		note = " (in another pid namespace)"
	}
	return t.judge(tid, sender, s, note, allow)
}

// judge asks the policy about signal s, sent by sender's thread tid: an
// allowed one runs through allow; a refused one fails the call with EPERM
// and blocks the job, described as s by sender and then note.
func (t *tracer) judge(tid, sender int, s Signal, note string, allow func() error) error {
	v := t.dec.Signal(s)
	if v == nil {
		return allow()
	}
	if err := refuse(tid, unix.EPERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("trace: refuse %s: %w", s.Call, err)
	}
	im := t.tree.Describe(sender)
	t.block(*v, fmt.Sprintf("%s by %s%s", s, im.String(), note), t.tree.Chain(sender))
	return nil
}

// translate finds the process of the tree that has number tg.pid in pid
// namespace ns. Only single processes are translated; a group or a thread
// id from another namespace is not.
func (t *tracer) translate(ns uint64, tg target) (int, bool) {
	if tg.group || tg.task {
		return 0, false
	}
	for _, pid := range t.tree.Pids() {
		if n, err := pidNS(pid); err != nil || n != ns {
			continue
		}
		if local, ok := innermostPid(pid); ok && local == tg.pid {
			return pid, true
		}
	}
	return 0, false
}

// pidNS identifies the pid namespace task tid is in.
func pidNS(tid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(tid)+"/ns/pid", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// innermostPid is pid's number in its own pid namespace (the last NSpid).
func innermostPid(pid int) (int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(f[len(f)-1])
			return n, err == nil
		}
	}
	return 0, false
}

// ourZombie reports whether pid is an exited, unreaped child of a process
// of the tree.
func (t *tracer) ourZombie(pid int) bool {
	f, err := statFields(pid)
	if err != nil || f[0] != "Z" {
		return false
	}
	ppid, err := strconv.Atoi(f[1])
	return err == nil && t.tree.Contains(ppid)
}

// perfFlagPidCgroup is PERF_FLAG_PID_CGROUP.
const perfFlagPidCgroup = 4

// rlimitName names a resource of prlimit64 for messages.
func rlimitName(r uint64) string {
	names := []string{"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
		"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"}
	if r < uint64(len(names)) {
		return "RLIMIT_" + names[r]
	}
	return "resource " + strconv.FormatUint(r, 10)
}

// pidfdSignalProcessGroup is PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9).
const pidfdSignalProcessGroup = 4

func (t *tracer) refuse(tid int, errno unix.Errno) error {
	if err := refuse(tid, errno); err != nil {
		return ignoreGone(err)
	}
	return cont(tid, 0)
}

// inside reports whether every process tg names is in the tree, and whether
// it names any process at all.
func (t *tracer) inside(tg target) (inside, exists bool) {
	switch {
	case tg.all:
		return false, true
	case tg.task:
		if t.tree.ContainsTask(tg.pid) {
			return true, true
		}
		return false, pathExists("/proc/" + strconv.Itoa(tg.pid))
	case tg.group:
		members := groupMembers(tg.pid)
		if len(members) == 0 {
			return false, false
		}
		for _, m := range members {
			// A process outside the tree cannot join a group of the
			// tree's session, so a zombie of ours stays ours.
			if !t.tree.Contains(m) && !t.ourZombie(m) {
				return false, true
			}
		}
		return true, true
	}
	if t.tree.Contains(tg.pid) {
		return true, true
	}
	tgid, _, err := taskIDs(tg.pid)
	if err != nil {
		return false, false
	}
	// tgkill and kill name a process; a thread id given to them is
	// refused by the kernel unless it is the leader.
	return false, tgid == tg.pid || pathExists("/proc/"+strconv.Itoa(tg.pid))
}

func (s Signal) String() string {
	name := unix.SignalName(syscall.Signal(s.Sig))
	if name == "" {
		name = strconv.Itoa(s.Sig)
	}
	var who string
	switch {
	case s.Pid == -1:
		who = "every process"
	case s.Pid < 0:
		who = fmt.Sprintf("process group %d", -s.Pid)
	default:
		who = strconv.Itoa(s.Pid)
		if s.Target != "" {
			who += " (" + s.Target + ")"
		}
	}
	return fmt.Sprintf("%s(%s, %s)", s.Call, who, name)
}

func ptraceListen(tid int) error {
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(tid), 0, 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

func cont(tid, sig int) error { return ignoreGone(unix.PtraceCont(tid, sig)) }

// ignoreGone drops ESRCH: a tracee killed while stopped (by SIGKILL from
// outside) is reported by wait4 next.
func ignoreGone(err error) error {
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trace: ptrace: %w", err)
	}
	return nil
}

func readCmdline(tid int) ([]string, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(tid) + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("trace: argv of %d: %w", tid, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCmdline+1))
	if err != nil {
		return nil, fmt.Errorf("trace: argv of %d: %w", tid, err)
	}
	if len(data) > maxCmdline {
		return nil, fmt.Errorf("trace: argv of %d is over %d bytes", tid, maxCmdline)
	}
	data = bytes.TrimSuffix(data, []byte{0})
	if len(data) == 0 {
		return []string{}, nil
	}
	return strings.Split(string(data), "\x00"), nil
}

// taskIDs reads a task's tgid and its process's parent from /proc.
func taskIDs(tid int) (tgid, ppid int, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	tgid, ppid = -1, -1
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Tgid":
			tgid, _ = strconv.Atoi(strings.TrimSpace(v))
		case "PPid":
			ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if tgid <= 0 || ppid < 0 {
		return 0, 0, fmt.Errorf("trace: /proc/%d/status: no Tgid or PPid", tid)
	}
	return tgid, ppid, nil
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("trace: /proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 3 {
		return nil, fmt.Errorf("trace: /proc/%d/stat: malformed", pid)
	}
	return f, nil
}

func pgrpOf(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[2])
}

// groupMembers lists the processes in process group pg.
func groupMembers(pg int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if g, err := pgrpOf(pid); err == nil && g == pg {
			out = append(out, pid)
		}
	}
	return out
}

// pidfdTarget resolves a pidfd (or a /proc/PID directory fd) held by pid.
// It returns -1 for a pidfd whose process has exited.
func pidfdTarget(pid, fd int) (int, error) {
	base := "/proc/" + strconv.Itoa(pid)
	data, err := os.ReadFile(base + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	link, err := os.Readlink(base + "/fd/" + strconv.Itoa(fd))
	if err != nil {
		return 0, err
	}
	if rest, ok := strings.CutPrefix(link, "/proc/"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("trace: fd %d of %d is not a pidfd", fd, pid)
}

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for one thread.
const pidfdThread = unix.O_EXCL

// holdFd duplicates descriptor fd of task tid (of process tgid) into the
// guard, so that what the tracer checks is the open file the call uses.
func holdFd(tid, tgid, fd int) (int, error) {
	pfd, err := unix.PidfdOpen(tid, pidfdThread)
	if err != nil {
		// Before Linux 6.9: the process's descriptor table, which its
		// threads share.
		if pfd, err = unix.PidfdOpen(tgid, 0); err != nil {
			return -1, err
		}
	}
	defer unix.Close(pfd)
	return unix.PidfdGetfd(pfd, fd, 0)
}

// sendPidfd performs pidfd_send_signal(fd, sig, info, flags) for tid,
// stopped in that call, with the guard's copy of its descriptor, and makes
// the tracee's call return what the kernel answered. info is an address in
// the tracee; the guard reads the siginfo from there once.
//
// The signal is sent by the guard: the kernel checks the guard's permission
// (the same account's, unless the tree changed user), and with no siginfo
// the receiver sees the guard as the sender.
func sendPidfd(tid, fd, sig int, info, flags uint64) error {
	var buf [128]byte // sizeof(siginfo_t)
	var p unsafe.Pointer
	if info != 0 {
		if n, err := unix.PtracePeekData(tid, uintptr(info), buf[:]); err != nil || n != len(buf) {
			return ignoreGone(refuse(tid, unix.EFAULT))
		}
		p = unsafe.Pointer(&buf[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(fd), uintptr(sig), uintptr(p), uintptr(flags), 0, 0)
	if err := refuse(tid, e); err != nil {
		return ignoreGone(err)
	}
	return cont(tid, 0)
}

// procName is a process's program for messages.
func procName(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
