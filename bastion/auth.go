package bastion

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/exitcode"
)

// refusalBanner is what a client is told, once per connection, when a key
// it offers is refused. It does not say whether the user exists.
func refusalBanner(login string) string {
	return fmt.Sprintf("keyturn: a key you offered is not registered to %q at this gate (or there is no such user), "+
		"and no certificate you offered is valid for it. The gate accepts public keys and certificates only; "+
		"if none of yours gets you in, ask an admin to add it.\r\n", login)
}

// errPublicKeysOnly refuses every way in but a public key.
var errPublicKeysOnly = errors.New("keyturn: public keys only")

// serverConfig is the per-connection SSH server config: public keys (plain
// or certified) are the only method offered (the failure message lists
// publickey alone); a refused key is explained once per connection, in an
// auth banner, since OpenSSH prints banners and nothing else from a failed
// login. The explanation goes with the first refused key: the client may go
// on to a key that works, so it is worded to hold either way.
//
// gliderlabs sets NoClientAuth when it has no handler of its own, so
// NoClientAuthCallback refuses "none" here; and identity comes only from
// VerifiedPublicKeyCallback (see verifiedIdentity), so a session that somehow
// got past without a verified key is refused anyway.
func serverConfig(auth *authenticator) func(ssh.Context) *gossh.ServerConfig {
	return func(ssh.Context) *gossh.ServerConfig {
		// One connection's auth requests are handled one at a time, on
		// its handshake goroutine.
		explained := false
		return &gossh.ServerConfig{
			PublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
				_, r := auth.check(conn.User(), conn.RemoteAddr(), key)
				if r == nil {
					return nil, nil
				}
				auth.logRefusal(conn.User(), conn.RemoteAddr(), key, r)
				if explained {
					return nil, errors.New("keyturn: permission denied")
				}
				explained = true
				return nil, &gossh.BannerError{Err: errors.New("keyturn: permission denied"), Message: refusalBanner(conn.User())}
			},
			NoClientAuthCallback: func(conn gossh.ConnMetadata) (*gossh.Permissions, error) {
				return nil, errPublicKeysOnly
			},
			VerifiedPublicKeyCallback: auth.verifiedPermissions,
		}
	}
}

// authenticate makes the verified identity the only one a session acts as,
// and refuses a session whose identity cannot be established. The
// identity is derived here, once, and travels with the session (see
// sessionIdentity). Every session checks its connection's key again
// (auth.recheck): one connection carries many sessions (ControlMaster),
// and a key revoked or a certificate expired since the login must not
// open another.
func authenticate(log *slog.Logger, auth *authenticator) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			id, ok := verifiedIdentity(s)
			if !ok {
				log.Error("session refused: no verified identity", "login", s.User(), "remote", s.RemoteAddr().String())
				say(s, "keyturn: permission denied")
				s.Exit(exitcode.Refused)
				return
			}
			if r := auth.recheck(s); r != nil {
				log.Warn("session refused: "+ruleText(r.Rule), "rule", r.Rule, "why", r.Detail, "user", id.User, "target", id.Target, "remote", id.Remote, "key", id.Fingerprint)
				say(s, "keyturn: permission denied: %s", r.Detail)
				s.Exit(exitcode.Refused)
				return
			}
			// A certificate's extensions only narrow: without
			// permit-pty there is no terminal, whatever policy allows.
			if _, _, pty := s.Pty(); pty && id.Cert != nil && !id.Cert.Permits(extPermitPTY) {
				log.Warn("session refused", "rule", "permit-pty", "why", "terminal requested; the certificate has no permit-pty",
					"user", id.User, "remote", id.Remote, "cert_id", id.Cert.KeyID, "cert_serial", id.Cert.Serial)
				say(s, "keyturn: your certificate does not permit a terminal (no permit-pty); run without -t")
				s.Exit(exitcode.Refused)
				return
			}
			next(authedSession{Session: s, id: id})
		}
	}
}

// refuseUnidentified ends a session that reached a handler without the
// identity authenticate gives: fail closed, whatever the chain's order.
func refuseUnidentified(log *slog.Logger, s ssh.Session) {
	log.Error("session refused: no identity from authenticate", "login", s.User(), "remote", s.RemoteAddr().String())
	say(s, "keyturn: permission denied")
	s.Exit(exitcode.Refused)
}

// authorize refuses a session for a target its user may not reach: an
// unknown target, one outside the user's target globs, or a user without
// the admin role. The refusal is logged and recorded; nothing after it
// (count, log, route) sees the session. Sessions in the gate's own
// namespace pass: each gate command checks its own roles.
func (g *Gate) authorize(next ssh.Handler) ssh.Handler {
	return func(s ssh.Session) {
		id, ok := sessionIdentity(s)
		if !ok {
			refuseUnidentified(g.log, s)
			return
		}
		if id.Target != "" {
			if refusal := g.authorizeTarget(id); refusal != "" {
				g.log.Warn("target refused", "user", id.User, "target", id.Target, "key", id.Fingerprint)
				g.record(s.Context(), audit.KindSessionRefused, id, map[string]any{"why": refusal})
				say(s, "keyturn: %s", refusal)
				s.Exit(exitcode.Refused)
				return
			}
		}
		next(s)
	}
}
