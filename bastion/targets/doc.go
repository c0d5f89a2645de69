// Package targets keeps the gate's SSH connections to target hosts: one
// verified connection per target, shared by every session that goes there,
// dialled when first needed and again after it breaks.
//
// Sharing one connection saves each admin command a TCP and SSH handshake
// with the target, which is why a command through the gate can finish
// sooner than one sent to the target directly.
package targets
