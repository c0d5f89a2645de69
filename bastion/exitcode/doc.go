// Package exitcode is the one table of the exit statuses keyturn's
// programs return of their own (a command that ran on a target returns the
// target's status instead).
//
// The gate, its commands (mpa included) and keyturn-guard each name these
// constants rather than numbers, so a status means one thing wherever it
// is returned, and [Table] says, per [Family], what each number means. A
// script tells the statuses apart by family: it knows whether it ran a
// command on a target, a gate command, or the guard.
//
// The numbers follow sysexits.h where one fits. The package imports
// nothing, so every program can use it.
package exitcode
