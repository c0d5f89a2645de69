// Package grant is the permission the gate hands to keyturn-guard on a
// target, and the handshake that carries it: one command line, the target
// it may run on, the privileged actions the approvers granted for it (none
// for a line the policy allows), the digest of the policy the guard must
// hold, the guard's challenge and a short validity window, all signed with
// the gate's SSH host key.
//
// The handshake (see [Challenge] and [ReadLine]) makes a grant single use
// without any state on the target: the gate executes the fixed command
// guard.Command; the guard (the account's login shell, so nothing reads
// stdin before it) writes a fresh random challenge as its first stdout
// line; the gate signs a grant bound to that challenge and sends it as the
// first line of stdin; the guard verifies it and only then starts the line,
// whose stdin is the rest. Every guard process makes a new challenge, so a
// grant copied from anywhere (a log, the guard's memory, the channel) is
// refused by every other run, and nothing the account can write on disk is
// trusted. The token never appears in an argv or an environment.
//
// The guard refuses a grant that is forged, expired, for another target,
// another policy or another challenge. The package knows nothing of SSH
// sessions or the store; it imports only x/crypto/ssh for keys and
// signatures.
package grant
