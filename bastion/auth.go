package bastion

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// keyAllowed reports whether key is one of the login user's keys, logging a
// refusal. It does not decide the target: a refusal there gets a clear
// message in the session, where the client can show it.
func keyAllowed(cfg *config.Config, log *slog.Logger, login string, remote net.Addr, key gossh.PublicKey) bool {
	user, target := splitLogin(login)
	u, ok := cfg.User(user)
	if !ok {
		log.Warn("login refused: unknown user", "login", login, "remote", remote.String(), "key", gossh.FingerprintSHA256(key))
		return false
	}
	if !u.HasKey(key) {
		log.Warn("login refused: key not registered for user", "user", user, "target", target, "remote", remote.String(), "key", gossh.FingerprintSHA256(key))
		return false
	}
	return true
}

// refusalBanner is what a client is told, once per connection, when a key
// it offers is refused. It does not say whether the user exists.
func refusalBanner(login string) string {
	return fmt.Sprintf("keyturn: a key you offered is not registered to %q at this gate (or there is no such user). "+
		"The gate accepts public keys only; if none of yours gets you in, ask an admin to add it.\r\n", login)
}

// errPublicKeysOnly refuses every way in but a public key.
var errPublicKeysOnly = errors.New("keyturn: public keys only")

// serverConfig is the per-connection SSH server config: public keys are
// the only method offered (the failure message lists publickey alone); a
// refused key is explained once per connection, in an auth banner, since
// OpenSSH prints banners and nothing else from a failed login. The
// explanation goes with the first refused key: the client may go on to a
// key that works, so it is worded to hold either way.
//
// gliderlabs sets NoClientAuth when it has no handler of its own, so
// NoClientAuthCallback refuses "none" here; and identity comes only from
// VerifiedPublicKeyCallback (see identityOf), so a session that somehow
// got past without a verified key is refused anyway.
func serverConfig(cfg *config.Config, log *slog.Logger) func(ssh.Context) *gossh.ServerConfig {
	return func(ssh.Context) *gossh.ServerConfig {
		// One connection's auth requests are handled one at a time, on
		// its handshake goroutine.
		explained := false
		return &gossh.ServerConfig{
			PublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
				if keyAllowed(cfg, log, conn.User(), conn.RemoteAddr(), key) {
					return nil, nil
				}
				if explained {
					return nil, errors.New("keyturn: permission denied")
				}
				explained = true
				return nil, &gossh.BannerError{Err: errors.New("keyturn: permission denied"), Message: refusalBanner(conn.User())}
			},
			NoClientAuthCallback: func(conn gossh.ConnMetadata) (*gossh.Permissions, error) {
				return nil, errPublicKeysOnly
			},
			VerifiedPublicKeyCallback: verifiedPermissions,
		}
	}
}

// authenticate makes the verified identity the only one a session acts as,
// and refuses a session whose identity cannot be established.
func authenticate(log *slog.Logger) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			if _, ok := identityOf(s); !ok {
				log.Error("session refused: no verified identity", "login", s.User(), "remote", s.RemoteAddr().String())
				say(s, "keyturn: permission denied")
				s.Exit(ExitRefused)
				return
			}
			next(s)
		}
	}
}
