package bastion

import (
	"log/slog"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// NewService returns the approval service over st with the config's roles
// and TOTP settings: the gate's users and roles are what mpa knows of who
// may approve.
func NewService(cfg *config.Config, st mpa.Store, log *slog.Logger) *mpa.Service {
	return mpa.New(st, mpa.Options{
		Logger:           log,
		Node:             cfg.GateID, // the host name when not set
		LockoutThreshold: cfg.TOTP.LockoutThreshold,
		LockoutDuration:  cfg.TOTP.LockoutDuration.Std(),
		Issuer:           Issuer(cfg),
		CanApprove: func(user string, _ []mpa.ActionRef) bool {
			u, ok := cfg.User(user)
			return ok && u.HasRole(config.RoleApprover)
		},
		InGroup: cfg.InGroup,
	})
}

// Issuer is the otpauth issuer approvers see in their authenticator
// apps: "keyturn", or "keyturn (NAME)" for a gate with a name, so two
// gates' entries do not collide.
func Issuer(cfg *config.Config) string {
	if cfg.Name == "" {
		return "keyturn"
	}
	return "keyturn (" + cfg.Name + ")"
}
