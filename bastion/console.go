package bastion

import (
	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Console runs the approvers' console on s, a session with a terminal, for
// the user the gate authenticated. It returns when the console closes. The
// gate does not draw the console itself: the transport knows no UI, so the
// one that assembles the server hands one in (cmd/keyturn passes the tui
// package's).
type Console func(s ssh.Session, c ConsoleSession) error

// ConsoleSession is what the gate tells a [Console] about one session.
type ConsoleSession struct {
	// User is the authenticated user; Approver is whether the gate's
	// roles make them an approver.
	User     string
	Approver bool
	// MPA is the approval service the console reads and votes through.
	MPA *mpa.Service
	// Stopping is closed when the gate begins to shut down.
	Stopping <-chan struct{}
	// PolicyProblem says what is wrong with policies.yaml on disk, or "".
	PolicyProblem func() string
}
