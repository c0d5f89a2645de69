//go:build linux

package trace

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// signalCalls are the system calls that send a signal; each is traced.
var signalCalls = map[uint64]string{
	unix.SYS_KILL:              "kill",
	unix.SYS_TKILL:             "tkill",
	unix.SYS_TGKILL:            "tgkill",
	unix.SYS_RT_SIGQUEUEINFO:   "rt_sigqueueinfo",
	unix.SYS_RT_TGSIGQUEUEINFO: "rt_tgsigqueueinfo",
	unix.SYS_PIDFD_SEND_SIGNAL: "pidfd_send_signal",
}

// refusedCalls fail with EPERM in the tree: with them a tree member could
// make a process outside the tree act for it, or take its descriptors.
var refusedCalls = []uint64{unix.SYS_PTRACE, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_PIDFD_GETFD, unix.SYS_VHANGUP}

// fcntl F_SETOWN names a process that the kernel signals later (SIGIO,
// lease breaks): it is traced and checked like kill. The forms that pass
// the owner through memory (fcntl F_SETOWN_EX, ioctl FIOSETOWN and
// SIOCSPGRP) fail with EPERM: another thread could change that memory
// between the tracer's check and the kernel's read.
const (
	fioSetOwn = 0x8901
	siocSPgrp = 0x8902
)

// Terminal ioctls that make a process outside the tree act or be signalled:
// TIOCSTI pushes input into a terminal as if typed (with CAP_SYS_ADMIN into
// any terminal: a ^C there is SIGINT to its foreground, a line typed into
// a root shell runs outside the tree), TIOCSIG signals the foreground
// process group of a pseudo-terminal's other side. Both fail with EPERM.
// TIOCVHANGUP (with CAP_SYS_ADMIN, on any terminal) and vhangup (on the
// caller's own) hang a terminal up: SIGHUP to its session leader and
// foreground, and end of input for every process using it. They fail with
// EPERM too.
const (
	tiocSTI     = unix.TIOCSTI
	tiocSIG     = unix.TIOCSIG
	tiocVHangup = unix.TIOCVHANGUP
)

// prlimit64 and perf_event_open aimed at another process are traced and
// checked like kill: lowering a process's limits kills it (RLIMIT_FSIZE:
// SIGXFSZ at its next write; RLIMIT_CPU: SIGXCPU, then SIGKILL;
// RLIMIT_STACK: SIGSEGV), and a perf event with sigtrap set sends SIGTRAP to
// the task it watches (the attribute is in memory the filter cannot read).

// seccompNewListener is SECCOMP_FILTER_FLAG_NEW_LISTENER. A filter of the
// tree's own that returns USER_NOTIF takes precedence over the guard's TRACE,
// and a listener answering CONTINUE would run kill unseen; installing a
// filter with a listener fails with EPERM. Without a listener USER_NOTIF
// fails the call (ENOSYS), and every other action a filter of the tree's
// own can return either stops the call or is weaker than TRACE.
const seccompNewListener = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER

const (
	bpfLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRet   = unix.BPF_RET | unix.BPF_K
	// x32Bit marks the x32 ABI's system call numbers on x86-64.
	x32Bit = 0x40000000
	// cloneUntraced is CLONE_UNTRACED: a child the tracer may not attach.
	cloneUntraced = 0x00800000
	// argLow is the offset of the low 32 bits of seccomp_data.args[i]
	// (little-endian: amd64 and arm64).
	argLow0 = 16
	argLow1 = 24
)

// asm is a BPF program with symbolic jump targets, resolved by build.
type asm struct {
	prog   []unix.SockFilter
	labels map[string]int
	refs   []asmRef
}

type asmRef struct {
	at     int
	jt, jf string
}

func (a *asm) label(name string) { a.labels[name] = len(a.prog) }

func (a *asm) op(code uint16, k uint32) { a.prog = append(a.prog, unix.SockFilter{Code: code, K: k}) }

// jump adds a conditional jump; "" continues with the next instruction.
func (a *asm) jump(code uint16, k uint32, jt, jf string) {
	a.refs = append(a.refs, asmRef{at: len(a.prog), jt: jt, jf: jf})
	a.op(code, k)
}

func (a *asm) build() []unix.SockFilter {
	off := func(at int, label string) uint8 {
		if label == "" {
			return 0
		}
		to, ok := a.labels[label]
		if !ok || to <= at || to-at-1 > 255 {
			panic("trace: bad BPF jump to " + label)
		}
		return uint8(to - at - 1)
	}
	for _, r := range a.refs {
		a.prog[r.at].Jt = off(r.at, r.jt)
		a.prog[r.at].Jf = off(r.at, r.jf)
	}
	return a.prog
}

// filterProgram builds the seccomp program: kill the process on any other
// architecture or an x32 number; TRACE the signal calls and fcntl F_SETOWN;
// EPERM the refused calls, the other owner-setting commands, and clone with
// CLONE_UNTRACED (a child the tracer could not follow); ENOSYS for clone3,
// whose flags live in memory a filter cannot read (libc then falls back to
// clone); TRACE prlimit64 and perf_event_open on another process; EPERM a
// seccomp filter with a user-notification listener, the
// terminal ioctls TIOCSTI, TIOCSIG and TIOCVHANGUP, and vhangup; allow the
// rest.
func filterProgram() []unix.SockFilter {
	a := &asm{labels: map[string]int{}}
	a.op(bpfLdAbs, 4) // seccomp_data.arch
	a.jump(bpfJeq, nativeArch, "", "kill")
	a.op(bpfLdAbs, 0) // seccomp_data.nr
	a.jump(bpfJge, x32Bit, "kill", "")
	for _, nr := range slices.Sorted(maps.Keys(signalCalls)) {
		a.jump(bpfJeq, uint32(nr), "trace", "")
	}
	for _, nr := range refusedCalls {
		a.jump(bpfJeq, uint32(nr), "eperm", "")
	}
	a.jump(bpfJeq, unix.SYS_CLONE3, "enosys", "")
	a.jump(bpfJeq, unix.SYS_CLONE, "clone", "")
	a.jump(bpfJeq, unix.SYS_FCNTL, "fcntl", "")
	a.jump(bpfJeq, unix.SYS_IOCTL, "ioctl", "")
	a.jump(bpfJeq, unix.SYS_SECCOMP, "seccomp", "")
	a.jump(bpfJeq, unix.SYS_PRLIMIT64, "prlimit", "")
	a.jump(bpfJeq, unix.SYS_PERF_EVENT_OPEN, "perf", "")
	a.op(bpfRet, unix.SECCOMP_RET_ALLOW)

	a.label("prlimit")
	a.op(bpfLdAbs, argLow0) // pid; 0 is the caller
	a.jump(bpfJeq, 0, "allow", "trace")

	a.label("perf")
	a.op(bpfLdAbs, argLow1) // pid; 0 is the caller, -1 every task of a CPU
	a.jump(bpfJeq, 0, "allow", "")
	a.jump(bpfJeq, 0xffffffff, "allow", "trace")

	a.label("seccomp")
	a.op(bpfLdAbs, argLow1) // flags
	a.jump(bpfJset, seccompNewListener, "eperm", "allow")

	a.label("clone")
	a.op(bpfLdAbs, argLow0) // flags
	a.jump(bpfJset, cloneUntraced, "eperm", "allow")

	a.label("fcntl")
	a.op(bpfLdAbs, argLow1) // cmd
	a.jump(bpfJeq, unix.F_SETOWN, "trace", "")
	a.jump(bpfJeq, unix.F_SETOWN_EX, "eperm", "allow")

	a.label("ioctl")
	a.op(bpfLdAbs, argLow1) // request
	a.jump(bpfJeq, fioSetOwn, "eperm", "")
	a.jump(bpfJeq, siocSPgrp, "eperm", "")
	a.jump(bpfJeq, tiocSTI, "eperm", "")
	a.jump(bpfJeq, tiocSIG, "eperm", "")
	a.jump(bpfJeq, tiocVHangup, "eperm", "allow")

	a.label("allow")
	a.op(bpfRet, unix.SECCOMP_RET_ALLOW)
	a.label("trace")
	a.op(bpfRet, unix.SECCOMP_RET_TRACE)
	a.label("eperm")
	a.op(bpfRet, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	a.label("enosys")
	a.op(bpfRet, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	a.label("kill")
	a.op(bpfRet, unix.SECCOMP_RET_KILL_PROCESS)
	return a.build()
}

// installFilter installs the program on every thread of this process. It
// tries without no_new_privs first, which works with CAP_SYS_ADMIN and keeps
// setuid programs (sudo) working in the tree; otherwise it sets
// no_new_privs, which the kernel requires, and setuid bits stop working.
func installFilter() error {
	prog := filterProgram()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	load := func() error {
		r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
		if e != 0 {
			return e
		}
		if r != 0 {
			return fmt.Errorf("thread %d could not be synchronised", r)
		}
		return nil
	}
	err := load()
	if errors.Is(err, unix.EACCES) {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
		err = load()
	}
	return err
}
