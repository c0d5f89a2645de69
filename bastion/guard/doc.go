// Package guard holds what keyturn-guard and the gate share: the guard's
// exit statuses, the report it writes when it blocks a line, and the
// [Decider] that applies the gate's policy to what the traced tree really
// does (see package trace for the tracing itself).
//
// A blocked exec or signal is decided with the same policy rules the gate
// uses on command lines: an exec is decided as the line "NAME ARGS..." built
// from its real argv (once with the executable's name, once with argv[0]'s,
// so neither a renamed copy run as "kill" nor a symlink hides it), and a
// signal to a process outside the tree as "kill -SIG PID". What the policy
// calls unresolved does not block in the guard: the guard sees what the
// unresolved program goes on to do. Signal 0 sends nothing (it probes
// whether a process exists) and is always allowed.
package guard
