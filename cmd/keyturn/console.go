package main

import (
	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/tui"
)

// console is the approvers' console the gate opens for a login without a
// command: the tui package, which the transport does not import.
func console(s ssh.Session, c bastion.ConsoleSession) error {
	return tui.Serve(s, c.MPA, tui.Viewer{Name: c.User, Approver: c.Approver},
		tui.Options{Stopping: c.Stopping, PolicyProblem: c.PolicyProblem})
}
