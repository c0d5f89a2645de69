package bastion

import (
	"fmt"
	"log/slog"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// publicKeyHandler accepts a key only if it is one of the login user's keys.
// It does not decide the target: a refusal there gets a clear message in the
// session, where the client can show it.
func publicKeyHandler(cfg *config.Config, log *slog.Logger) ssh.PublicKeyHandler {
	return func(ctx ssh.Context, key ssh.PublicKey) bool {
		user, target := splitLogin(ctx.User())
		u, ok := cfg.User(user)
		if !ok {
			log.Warn("login refused: unknown user", "login", ctx.User(), "remote", ctx.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key))
			return false
		}
		if !u.HasKey(key) {
			log.Warn("login refused: key not registered for user", "user", user, "target", target, "remote", ctx.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key))
			return false
		}
		return true
	}
}

// explainRefusal is the keyboard-interactive handler. It never grants
// access: OpenSSH turns to keyboard-interactive only after every public key
// failed, so this is the one place the client can be told why, in a
// challenge's instruction with no questions. Having a handler set also keeps
// gliderlabs from falling back to no authentication at all.
func explainRefusal(log *slog.Logger) ssh.KeyboardInteractiveHandler {
	return func(ctx ssh.Context, challenge gossh.KeyboardInteractiveChallenge) bool {
		msg := fmt.Sprintf("keyturn: permission denied for %q: no key you offered is registered to that user "+
			"(or there is no such user). The gate accepts public keys only.", ctx.User())
		_, _ = challenge("", msg, nil, nil)
		log.Info("keyboard-interactive refused: public keys only", "login", ctx.User(), "remote", ctx.RemoteAddr().String())
		return false
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
