//go:build !unix

package bastion

import "net"

// pendingInput cannot peek here: a connection counts as silent until the
// gate reads from it.
func pendingInput(net.Conn) bool { return false }
