// Package targets keeps the gate's SSH connections to target hosts: one
// verified connection per target, shared by every session that goes there,
// dialled when first needed and again after it breaks. When a target
// refuses a session on a connection because it is full (sshd's
// MaxSessions, 10 by default), the pool opens another connection to it, up
// to a limit, and never closes a connection that still carries sessions.
//
// Sharing one connection saves each admin command a TCP and SSH handshake
// with the target, which is why a command through the gate can finish
// sooner than one sent to the target directly.
//
// Each connection also holds one spare session channel, opened when a
// session on it ends, so that the next session does not wait a round trip
// for its channel (with a target across a network, the open outlasts the
// decision record's fsync it overlaps with). A channel runs nothing on the
// target until a request is sent on it. The spare takes one of the
// target's MaxSessions places; a connection the target refused a channel
// on holds none.
//
// Each connection to an unguarded target with shell_wrapper: auto is
// also asked, once, in the background after its first session ended,
// whether its login shell is the configured bash with nothing of its rc
// files left behind (shellprobe.go). Until it answers yes, and on any
// other answer, sessions on it report PlainBash false, and the gate wraps
// their lines in a second bash.
package targets
