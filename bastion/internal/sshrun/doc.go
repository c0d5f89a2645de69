// Package sshrun runs one command on an SSH server as a test client does:
// log in with a key, trust only the server's host key, collect stdout,
// stderr and the exit status. It is for tests only: the gate's tests and
// the server's tests both drive a gate this way.
package sshrun
