// Package trace runs a command as a traced process tree and asks a [Decider]
// about every program the tree executes and every signal it sends outside
// itself. It is the enforcement half of keyturn-guard.
//
// How: the guard re-executes itself as the first child ([ChildMain]), ahead
// of knowing what it will run if it likes ([Start]); the child gets the argv
// on a pipe, so that argv never sits on its command line. The tracer
// attaches with PTRACE_SEIZE (options EXITKILL, TRACEFORK, TRACEVFORK,
// TRACECLONE, TRACEEXEC, TRACESECCOMP) from one locked OS thread, then the
// child installs a seccomp filter (with TSYNC, since a Go process has many
// threads) and executes the shell. The filter returns TRACE for kill, tkill,
// tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal and fcntl
// F_SETOWN (a file owner the kernel signals later), EPERM for ptrace,
// process_vm_writev and pidfd_getfd (a tree member could otherwise drive a
// process outside the tree), for clone with CLONE_UNTRACED (a child the
// tracer could not follow) and for the owner-setting calls whose argument
// lives in memory; ENOSYS for clone3, whose flags a filter cannot read (libc
// falls back to clone); ALLOW for everything else. Any other architecture's
// calling convention (int 0x80, x32) kills the process, so no call slips
// through a foreign system call table.
//
// Exec is checked at the PTRACE_EVENT_EXEC stop, which every traced task
// reports: the kernel has copied argv and killed the other threads, and the
// new image has not run. A check at the execve entry would race with threads
// rewriting argv, so execve is not in the filter at all (a stop there would
// cost a round trip and tell nothing).
//
// Bookkeeping ([Tree]) follows processes by tgid: membership of the tree,
// the chain of programs that led to each one (for messages), tid changes when
// a non-leader thread executes, and pid reuse (a pid leaves the tree when the
// tracer reaps its exit, before the real parent can release it for reuse).
//
// Linux only; the bookkeeping compiles everywhere so it can be tested alone.
package trace
