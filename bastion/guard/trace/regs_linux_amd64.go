//go:build linux && amd64

package trace

import "golang.org/x/sys/unix"

// nativeArch is the only AUDIT_ARCH the filter lets through.
const nativeArch = unix.AUDIT_ARCH_X86_64

// syscallArgs reads the number and arguments of the call tid is stopped in.
func syscallArgs(tid int) (nr uint64, args [6]uint64, err error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return 0, args, err
	}
	return r.Orig_rax, [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}, nil
}

// refuse makes the call tid is stopped in (at its seccomp stop) fail with
// errno without running: syscall number -1 skips it, and the x86-64 entry
// code leaves rax, the return value, as the tracer set it.
func refuse(tid int, errno unix.Errno) error {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return err
	}
	r.Orig_rax = ^uint64(0)
	r.Rax = uint64(-int64(errno))
	return unix.PtraceSetRegs(tid, &r)
}
