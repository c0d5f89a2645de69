// Package grant is the permission the gate hands to keyturn-guard on a
// target: one command line, the target it may run on, the privileged actions
// the approvers granted for it (none for a line the policy allows), the digest
// of the policy the guard must hold, a nonce and a short validity window, all
// signed with the gate's SSH host key.
//
// The guard verifies a grant against the gate's public key installed beside
// it, refuses one that is forged, expired, for another target or another
// policy, and records the nonce in a [NonceStore] so a grant runs at most
// once. The token is plain text without spaces so the gate can send it as
// the SSH exec command: sshd passes it to the guard (the account's login
// shell) as `keyturn-guard -c TOKEN`, and nothing on the target reads the
// line before the guard does.
//
// The package knows nothing of SSH sessions or the store; it imports only
// x/crypto/ssh for keys and signatures.
package grant
