// Package bastion is the keyturn gate: an SSH server that authenticates
// admins by public key and proxies their commands to target hosts over its
// own SSH connections, holding privileged commands for approval.
//
// Admins log in with keys listed in keyturn.yaml or with OpenSSH user
// certificates from a trusted CA (certauth.go): the certificate's rules
// (validity, principals, revocation, critical options) are checked at the
// login and again at every session's start.
//
// The server is a chain of middleware over github.com/gliderlabs/ssh,
// built in one place (Gate.requestPath): track the running handler (so the
// store outlives it), snapshot the terminal, recover
// panics, authenticate (the identity travels with the session), authorize
// the target, bound the command line, count, log, then route to the
// gate's own command namespace, the approvers' console, or a target.
//
// This package is the SSH transport. It opens no store and knows no
// metrics, webhooks or UI: bastion/server assembles a gate from its
// config and hands it the approval service (over the mpa.Store
// interface), the policy, a target dialer and the console.
package bastion
