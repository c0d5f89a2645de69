//go:build linux && arm64

package trace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// nativeArch is the only AUDIT_ARCH the filter lets through.
const nativeArch = unix.AUDIT_ARCH_AARCH64

// syscallArgs reads the number and arguments of the call tid is stopped in.
func syscallArgs(tid int) (nr uint64, args [6]uint64, err error) {
	var r unix.PtraceRegsArm64
	if err := unix.PtraceGetRegSetArm64(tid, unix.NT_PRSTATUS, &r); err != nil {
		return 0, args, err
	}
	return r.Regs[8], [6]uint64{r.Regs[0], r.Regs[1], r.Regs[2], r.Regs[3], r.Regs[4], r.Regs[5]}, nil
}

// refuse makes the call tid is stopped in (at its seccomp stop) fail with
// errno without running: x0 holds the return value, and the syscall number,
// set through NT_ARM_SYSTEM_CALL to -1, skips the call.
//
// Exercised on a real arm64 kernel by cmd/keyturn-guard/arm64/run.sh
// (qemu-system-aarch64): TestRefuseAnswersWithoutRunning fails if x0 or the
// skip is wrong.
func refuse(tid int, errno unix.Errno) error {
	var r unix.PtraceRegsArm64
	if err := unix.PtraceGetRegSetArm64(tid, unix.NT_PRSTATUS, &r); err != nil {
		return err
	}
	r.Regs[0] = uint64(-int64(errno))
	if err := unix.PtraceSetRegSetArm64(tid, unix.NT_PRSTATUS, &r); err != nil {
		return err
	}
	nr := int32(-1)
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(&nr)), Len: 4}
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(tid),
		unix.NT_ARM_SYSTEM_CALL, uintptr(unsafe.Pointer(&iov)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
