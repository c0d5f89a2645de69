// Package bastion is the keyturn gate: an SSH server that authenticates
// admins by public key and proxies their commands to target hosts over its
// own SSH connections, holding privileged commands for approval.
//
// Admins log in with keys listed in keyturn.yaml or with OpenSSH user
// certificates from a trusted CA (certauth.go): the certificate's rules
// (validity, principals, revocation, critical options) are checked at the
// login and again at every session's start.
//
// The server is a chain of middleware over github.com/gliderlabs/ssh:
// recover, log, authenticate, authorize, then route to the gate's own
// command namespace, the approvers' console, or a target.
package bastion
