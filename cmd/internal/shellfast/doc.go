// Package shellfast holds the end-to-end tests of the gate's shell fast
// path (bastion/targets/shellprobe.go, bastion/targetshell.go) against a
// real OpenSSH sshd on loopback: when the target's login shell is a plain
// bash, lines go to it as they are; any other login shell, an rc file that
// leaves something behind, shell_wrapper: always, or a forged probe
// report keeps every line wrapped in the configured bash. It has no code
// of its own; the tests live here because they need cmd/internal/localsshd
// and the gate's exported API together.
package shellfast
