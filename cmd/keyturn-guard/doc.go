// Command keyturn-guard is the login shell of the account the keyturn gate
// uses on a target. sshd starts it as `keyturn-guard -c keyturn-guard-v2`
// (guard.Command, the only command the gate sends); the guard writes a
// fresh challenge line to stdout and reads from stdin a grant signed by the
// gate for that challenge (package grant), which carries the command line.
// It verifies the grant against the gate's public key and runs the line
// with `/bin/bash --norc --noprofile -c LINE` as a traced process tree
// (package trace), the rest of stdin being the line's: every program the
// tree executes and every signal it sends outside itself is decided with
// the gate's policy, and a privileged action the grant does not cover kills
// the tree. The guard is not dumpable, so the account's processes (the tree
// among them) cannot read or write its memory.
//
// Files, read from the directory the guard's executable is in (install it in
// a directory of its own, owned by root and not writable by the account):
//
//	gate.pub       the gate's SSH host public key (authorized_keys format)
//	policies.yaml  the gate's policy; the grant carries its SHA-256 and a
//	               different file refuses every grant
//	target         this target's name as the gate's keyturn.yaml spells it
//	shell          optional: the shell to run lines with (default /bin/bash)
//
// Start: while the challenge and grant travel, the guard parses the policy,
// starts the traced child (the guard re-executed: a second Go runtime to
// start, waiting for its argv and release on a pipe) and warms the grant
// verifier, so that little of a start's cost is on the path after the
// grant arrives. On a terminal the child is started after the handshake,
// since it takes the terminal's foreground. A refused grant kills the
// waiting child before it was given anything to run.
//
// The guard keeps no state: a grant answers one challenge, which no other
// run of the guard makes, so it runs once.
//
// Exit statuses: the line's own, or those in package guard (119 usage, 120
// internal error, 121 blocked, 122 denied, 123 grant refused). A line that
// exits with one of the guard's own statuses exits 118 instead (guard.
// ExitCollided), so a line cannot pass for a blocked one with a report it
// printed itself.
package main
