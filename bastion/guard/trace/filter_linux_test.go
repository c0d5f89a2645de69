//go:build linux

package trace

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// errNotConstant is interpret's answer for a program that loads an
// argument when the arguments are unknown.
var errNotConstant = errors.New("the program loads an argument")

// interpret runs the seccomp program on one seccomp_data, enough of
// classic BPF for the instructions filterProgram uses. With args nil the
// arguments are unknown, as for the kernel's action cache (see
// constAllow): a load of one ends the run with errNotConstant. Missing
// arguments of a non-nil args are zero.
func interpret(prog []unix.SockFilter, nr, arch uint32, args []uint32) (uint32, error) {
	var acc uint32
	arg := func(i int) (uint32, error) {
		switch {
		case args == nil:
			return 0, errNotConstant
		case i < len(args):
			return args[i], nil
		}
		return 0, nil
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		var hit bool
		switch in.Code {
		case bpfLdAbs:
			var err error
			switch in.K {
			case 0:
				acc = nr
			case 4:
				acc = arch
			case argLow0:
				acc, err = arg(0)
			case argLow1:
				acc, err = arg(1)
			default:
				err = fmt.Errorf("load of offset %d", in.K)
			}
			if err != nil {
				return 0, err
			}
			continue
		case bpfJset:
			hit = acc&in.K != 0
		case bpfJeq:
			hit = acc == in.K
		case bpfJge:
			hit = acc >= in.K
		case bpfRet:
			return in.K, nil
		default:
			return 0, fmt.Errorf("unexpected instruction %#x", in.Code)
		}
		if hit {
			pc += int(in.Jt)
		} else {
			pc += int(in.Jf)
		}
	}
	return 0, errors.New("program fell off its end")
}

// runFilter is the program's answer to system call nr on arch with args;
// a program interpret cannot run fails the test.
func runFilter(t *testing.T, prog []unix.SockFilter, nr, arch uint32, args ...uint32) uint32 {
	t.Helper()
	if args == nil {
		args = []uint32{} // known: all zero
	}
	ret, err := interpret(prog, nr, arch, args)
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

func TestFilterProgram(t *testing.T) {
	prog := filterProgram()
	if len(prog) > 255 {
		t.Fatal("jumps would not fit")
	}
	for nr, name := range signalCalls {
		if got := runFilter(t, prog, uint32(nr), nativeArch); got != unix.SECCOMP_RET_TRACE {
			t.Errorf("%s: %#x, want TRACE", name, got)
		}
	}
	for _, nr := range refusedCalls {
		if got := runFilter(t, prog, uint32(nr), nativeArch); got != unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM) {
			t.Errorf("syscall %d: %#x, want EPERM", nr, got)
		}
	}
	for _, nr := range []uint32{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXECVE, unix.SYS_CLONE, 0} {
		if got := runFilter(t, prog, nr, nativeArch); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("syscall %d: %#x, want ALLOW", nr, got)
		}
	}
	eperm, enosys := unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)
	for _, tc := range []struct {
		name string
		nr   uint32
		args []uint32
		want uint32
	}{
		// A child the tracer could not follow is refused; clone3 hides
		// its flags in memory, so libc is told to fall back to clone.
		{"clone untraced", unix.SYS_CLONE, []uint32{cloneUntraced | uint32(unix.SIGCHLD)}, eperm},
		{"clone thread", unix.SYS_CLONE, []uint32{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, unix.SECCOMP_RET_ALLOW},
		{"clone3", unix.SYS_CLONE3, nil, enosys},
		{"fcntl F_SETOWN", unix.SYS_FCNTL, []uint32{3, unix.F_SETOWN}, unix.SECCOMP_RET_TRACE},
		{"fcntl F_SETOWN_EX", unix.SYS_FCNTL, []uint32{3, unix.F_SETOWN_EX}, eperm},
		{"fcntl F_GETFL", unix.SYS_FCNTL, []uint32{3, unix.F_GETFL}, unix.SECCOMP_RET_ALLOW},
		{"ioctl FIOSETOWN", unix.SYS_IOCTL, []uint32{3, fioSetOwn}, eperm},
		{"ioctl SIOCSPGRP", unix.SYS_IOCTL, []uint32{3, siocSPgrp}, eperm},
		{"ioctl TCGETS", unix.SYS_IOCTL, []uint32{0, unix.TCGETS}, unix.SECCOMP_RET_ALLOW},
		{"ioctl TIOCSTI", unix.SYS_IOCTL, []uint32{0, unix.TIOCSTI}, eperm},
		{"ioctl TIOCSIG", unix.SYS_IOCTL, []uint32{3, unix.TIOCSIG}, eperm},
		{"ioctl TIOCVHANGUP", unix.SYS_IOCTL, []uint32{3, unix.TIOCVHANGUP}, eperm},
		{"prlimit64 self", unix.SYS_PRLIMIT64, []uint32{0, unix.RLIMIT_NOFILE}, unix.SECCOMP_RET_ALLOW},
		{"prlimit64 other", unix.SYS_PRLIMIT64, []uint32{4242, unix.RLIMIT_FSIZE}, unix.SECCOMP_RET_TRACE},
		{"perf_event_open self", unix.SYS_PERF_EVENT_OPEN, []uint32{0, 0}, unix.SECCOMP_RET_ALLOW},
		{"perf_event_open cpu", unix.SYS_PERF_EVENT_OPEN, []uint32{0, 0xffffffff}, unix.SECCOMP_RET_ALLOW},
		{"perf_event_open other", unix.SYS_PERF_EVENT_OPEN, []uint32{0, 4242}, unix.SECCOMP_RET_TRACE},
		// A filter of the tree's own may not come with a listener
		// (USER_NOTIF outranks TRACE); one without is harmless.
		{"seccomp listener", unix.SYS_SECCOMP, []uint32{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH}, eperm},
		{"seccomp filter", unix.SYS_SECCOMP, []uint32{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}, unix.SECCOMP_RET_ALLOW},
	} {
		if got := runFilter(t, prog, tc.nr, nativeArch, tc.args...); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
	// Any other architecture is killed whatever the call: i386 kill is 37,
	// arm's is 37 too.
	for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_X86_64 ^ unix.AUDIT_ARCH_AARCH64 ^ nativeArch, 0} {
		for _, nr := range []uint32{0, 1, 37, 62, 129} {
			if got := runFilter(t, prog, nr, arch); got != unix.SECCOMP_RET_KILL_PROCESS {
				t.Errorf("arch %#x nr %d: %#x, want KILL_PROCESS", arch, nr, got)
			}
		}
	}
	// x32 numbers (bit 30) are killed, kill's x32 number included.
	for _, nr := range []uint32{x32Bit | 62, x32Bit, 0xffffffff} {
		if got := runFilter(t, prog, nr, nativeArch); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("nr %#x: %#x, want KILL_PROCESS", nr, got)
		}
	}
}

// constAllow reports whether the program allows system call nr on arch
// without looking at its arguments, as the kernel's seccomp_is_const_allow
// (kernel/seccomp.c) emulates it: such calls are answered from the
// filter's action cache (Linux 5.11 and later) and never run the filter.
func constAllow(prog []unix.SockFilter, nr, arch uint32) bool {
	ret, err := interpret(prog, nr, arch, nil)
	return err == nil && ret == unix.SECCOMP_RET_ALLOW
}

// TestFilterCachedForOtherCalls: every system call the filter does not
// trace, refuse or look into is allowed from the number alone, so the
// kernel caches the verdict and read and write (a stream's every call) cost
// the tree no filter run. A filter that looked at an argument before
// telling read from kill would fail here.
func TestFilterCachedForOtherCalls(t *testing.T) {
	prog := filterProgram()
	special := map[uint32]bool{
		unix.SYS_CLONE3: true, unix.SYS_CLONE: true, unix.SYS_FCNTL: true, unix.SYS_IOCTL: true,
		unix.SYS_SECCOMP: true, unix.SYS_PRLIMIT64: true, unix.SYS_PERF_EVENT_OPEN: true,
	}
	for nr := range signalCalls {
		special[uint32(nr)] = true
	}
	for _, nr := range refusedCalls {
		special[uint32(nr)] = true
	}
	for _, nr := range []uint32{unix.SYS_READ, unix.SYS_WRITE} {
		if !constAllow(prog, nr, nativeArch) {
			t.Fatalf("system call %d is not allowed from its number alone", nr)
		}
	}
	for nr := uint32(0); nr < 512; nr++ {
		if !special[nr] && !constAllow(prog, nr, nativeArch) {
			t.Errorf("system call %d: the filter runs for it (not cached as allowed)", nr)
		}
	}
	for nr := range special {
		if constAllow(prog, nr, nativeArch) {
			t.Errorf("system call %d: allowed from its number alone, but the filter must trace, refuse or check it", nr)
		}
	}
	if constAllow(prog, unix.SYS_READ, nativeArch+1) {
		t.Error("another architecture's read is allowed")
	}
}
