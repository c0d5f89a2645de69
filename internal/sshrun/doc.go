// Package sshrun runs one command on an SSH server as a test client does:
// log in with a key, trust only the server's host key, collect stdout,
// stderr and the exit status. It is for tests only: the gate's tests, the
// server's tests and the shell fast path's end-to-end tests
// (cmd/internal/shellfast) all drive a gate this way, which is why it
// lives in the module's own internal/ (importable from bastion/ and cmd/
// alike) rather than under bastion/internal.
package sshrun
