package bastion

import (
	"fmt"
	"log/slog"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// explainRefusal is the keyboard-interactive handler. It never grants
// access: OpenSSH turns to keyboard-interactive only after every public key
// failed, so this is the one place the client can be told why, in a
// challenge's instruction with no questions. Having a handler set also keeps
// gliderlabs from falling back to no authentication at all.
func explainRefusal(log *slog.Logger) ssh.KeyboardInteractiveHandler {
	return func(ctx ssh.Context, challenge gossh.KeyboardInteractiveChallenge) bool {
		msg := fmt.Sprintf("keyturn: permission denied for %q: no key you offered is registered to that user "+
			"(or there is no such user), and no certificate you offered is valid for it. The gate accepts public keys and "+
			"certificates only.", ctx.User())
		_, _ = challenge("", msg, nil, nil)
		log.Info("keyboard-interactive refused: public keys only", "login", ctx.User(), "remote", ctx.RemoteAddr().String())
		return false
	}
}

// authenticate makes the verified identity the only one a session acts as,
// and refuses a session whose identity cannot be established. Every
// session checks its connection's key again (auth.recheck): one connection
// carries many sessions (ControlMaster), and a key revoked or a
// certificate expired since the login must not open another.
func authenticate(log *slog.Logger, auth *authenticator) Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			id, ok := identityOf(s)
			if !ok {
				log.Error("session refused: no verified identity", "login", s.User(), "remote", s.RemoteAddr().String())
				say(s, "keyturn: permission denied")
				s.Exit(ExitRefused)
				return
			}
			if r := auth.recheck(s); r != nil {
				log.Warn("session refused: "+ruleText(r.Rule), "rule", r.Rule, "why", r.Detail, "user", id.User, "target", id.Target, "remote", id.Remote, "key", id.Fingerprint)
				say(s, "keyturn: permission denied: %s", r.Detail)
				s.Exit(ExitRefused)
				return
			}
			// A certificate's extensions only narrow: without
			// permit-pty there is no terminal, whatever policy allows.
			if _, _, pty := s.Pty(); pty && id.Cert != nil && !id.Cert.Permits(extPermitPTY) {
				log.Warn("session refused", "rule", "permit-pty", "why", "terminal requested; the certificate has no permit-pty",
					"user", id.User, "remote", id.Remote, "cert_id", id.Cert.KeyID, "cert_serial", id.Cert.Serial)
				say(s, "keyturn: your certificate does not permit a terminal (no permit-pty); run without -t")
				s.Exit(ExitRefused)
				return
			}
			next(s)
		}
	}
}
