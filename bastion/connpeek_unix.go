//go:build unix

package bastion

import (
	"net"
	"syscall"
)

// pendingInput says whether the client has sent bytes that nobody has
// read yet. It peeks without blocking, so that a connection the gate has
// not got round to reading (under a flood of accepts) is not taken for a
// silent one.
func pendingInput(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	pending := false
	// Control, not Read: RawConn.Read would queue behind the
	// handshake's own blocked Read of the same connection.
	raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = err == nil && n > 0
	})
	return pending
}
