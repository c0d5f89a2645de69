package trace

// Decider is asked about what the tree does. Its answers decide whether the
// tree goes on; a non-nil [Verdict] stops the tree.
type Decider interface {
	// Exec is asked at every exec stop, before the new program runs.
	Exec(im Image) *Verdict
	// Signal is asked about a signal sent to something outside the tree.
	Signal(s Signal) *Verdict
}

// Verdict is why the tree must stop.
type Verdict struct {
	// Actions are the privileged actions observed that the grant does not
	// cover, by policy name.
	Actions []string
	// Deny is set when a deny rule matched: no approval can allow it.
	Deny bool
}

// Signal is a signal a tree member sends outside the tree.
type Signal struct {
	Call string // the system call: kill, tgkill, pidfd_send_signal, ...
	Sig  int
	// Pid is the target process; for a process group it is the negated
	// group id, and -1 means every process the sender may signal.
	Pid int
	// Target is the target's program (from /proc), when it is one process.
	Target string
}

// Blocked says what stopped the tree, for the message and the gate.
type Blocked struct {
	Verdict
	// Observed is what was seen and how it came to run, e.g.
	// "/usr/bin/kill 4242, started by prlimit, started by bash".
	Observed string
}

// Result is how a traced run ended.
type Result struct {
	// Started is set once the root executed the requested program.
	Started bool
	// Exit is the root's status: its exit code, or 128 plus the signal
	// that killed it, as a shell reports it.
	Exit int
	// Blocked is set when the tree was killed for an action the decider
	// refused.
	Blocked *Blocked
}
