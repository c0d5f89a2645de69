package bastion

import (
	"strings"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Identity is who a session belongs to, as proven by the key that
// authenticated the connection.
type Identity struct {
	// User is the gate user, the part of the login name before "+".
	User string
	// Target is the target named after "+", or "" for the gate's own
	// command namespace.
	Target string
	// Fingerprint is the SHA-256 fingerprint of the key that signed the
	// authentication, not merely one the client offered.
	Fingerprint string
	// Remote is the client's address.
	Remote string
	// Cert is the certificate the connection logged in with; nil for a
	// plain key. Fingerprint is then its key's.
	Cert *CertInfo
}

// Permission extensions the gate records for the verified key.
const (
	extLogin       = "keyturn-login"
	extFingerprint = "keyturn-key-fp"
	extCert        = "keyturn-cert"
	extKey         = "keyturn-key" // the key or certificate, wire format, base64
)

// splitLogin splits "alice+web-1" into ("alice", "web-1").
func splitLogin(login string) (user, target string) {
	user, target, _ = strings.Cut(login, "+")
	return user, target
}

// verifiedIdentity reads the session's identity from the connection's
// verified permissions. It fails if they are missing or disagree with the
// login name the connection ended up with. Only authenticate calls it;
// every handler after it reads the identity the session carries
// (sessionIdentity).
func verifiedIdentity(s ssh.Session) (Identity, bool) {
	sc, ok := s.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || sc.Permissions == nil {
		return Identity{}, false
	}
	login, fp := sc.Permissions.Extensions[extLogin], sc.Permissions.Extensions[extFingerprint]
	if login == "" || fp == "" || login != sc.User() {
		return Identity{}, false
	}
	cert, ok := certOf(sc.Permissions)
	if !ok {
		return Identity{}, false
	}
	user, target := splitLogin(login)
	return Identity{User: user, Target: target, Fingerprint: fp, Remote: s.RemoteAddr().String(), Cert: cert}, true
}

// authedSession is a session with the identity authenticate established;
// it travels with the session down the chain.
type authedSession struct {
	ssh.Session
	id Identity
}

// sessionIdentity is the identity authenticate established for s. ok is
// false for a session that did not come through authenticate (a chain
// built out of order); whoever asks refuses such a session.
func sessionIdentity(s ssh.Session) (Identity, bool) {
	a, ok := s.(authedSession)
	return a.id, ok
}
