//go:build linux

package trace

import (
	"errors"
	"fmt"
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
// make a process outside the tree act for it.
var refusedCalls = []uint64{unix.SYS_PTRACE, unix.SYS_PROCESS_VM_WRITEV}

const (
	bpfLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfRet   = unix.BPF_RET | unix.BPF_K
	// x32Bit marks the x32 ABI's system call numbers on x86-64.
	x32Bit = 0x40000000
)

// filterProgram builds the seccomp program: kill the process on any other
// architecture or an x32 number, TRACE the signal calls, EPERM the refused
// ones, allow the rest.
func filterProgram() []unix.SockFilter {
	var traced []uint64
	for nr := range signalCalls {
		traced = append(traced, nr)
	}
	p := []unix.SockFilter{
		{Code: bpfLdAbs, K: 4}, // seccomp_data.arch
		{Code: bpfJeq, Jt: 1, K: nativeArch},
		{Code: bpfRet, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: bpfLdAbs, K: 0}, // seccomp_data.nr
		{Code: bpfJge, Jf: 1, K: x32Bit},
		{Code: bpfRet, K: unix.SECCOMP_RET_KILL_PROCESS},
	}
	// The checks are followed by: RET ALLOW, RET TRACE, RET ERRNO.
	n := len(traced) + len(refusedCalls)
	for i, nr := range traced {
		left := n - i - 1 // checks after this one
		p = append(p, unix.SockFilter{Code: bpfJeq, Jt: uint8(left + 1), K: uint32(nr)})
	}
	for i, nr := range refusedCalls {
		left := len(refusedCalls) - i - 1
		p = append(p, unix.SockFilter{Code: bpfJeq, Jt: uint8(left + 2), K: uint32(nr)})
	}
	return append(p,
		unix.SockFilter{Code: bpfRet, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: bpfRet, K: unix.SECCOMP_RET_TRACE},
		unix.SockFilter{Code: bpfRet, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	)
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
