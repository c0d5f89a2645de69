package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
)

// Approvers counts the registered approvers who hold the approver role.
func (s *Server) Approvers(ctx context.Context) (int, error) { return s.Gate.Approvers(ctx) }

// LogStart logs what an operator checks first: one summary line (version,
// users, targets, approval on or off, approvers registered, policy digest,
// host key fingerprint), a warning for each action whose quorum cannot be
// reached, and a warning while approval is off.
func (s *Server) LogStart(ctx context.Context, version string) error {
	settings, err := s.MPA.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read approval settings: %w", err)
	}
	n, err := s.Approvers(ctx)
	if err != nil {
		return fmt.Errorf("count approvers: %w", err)
	}
	approval := "off"
	if settings.Enabled {
		approval = "on"
	}
	s.log.Info("keyturn starting", "version", version, "name", s.Gate.Name(), "config", s.cfg.Path(),
		"users", len(s.cfg.Users), "targets", len(s.cfg.Targets), "approval", approval,
		"approvers_registered", n, "policy", s.cfg.Policies, "policy_sha256", s.Policy.Digest(),
		"host_key", gossh.FingerprintSHA256(s.Gate.HostKey()))
	for _, w := range bastion.QuorumWarnings(s.Policy.Actions(), n) {
		s.log.Warn(w)
	}
	_, gw := bastion.CheckApproverGroups(s.cfg, s.Policy.Current())
	for _, w := range gw {
		s.log.Warn(w)
	}
	if !settings.Enabled {
		warnApprovalOff(s.log)
	}
	return nil
}

func warnApprovalOff(log *slog.Logger) {
	log.Warn("multi-party approval is off: privileged commands run without approval (and are audited as command.unapproved); " +
		"register two approvers and enable it: ssh APPROVER@gate mpa settings global modify --enable=true")
}

// warnWhileApprovalOff repeats the approval-off warning every interval
// for as long as approval stays off, until ctx is done.
func (s *Server) warnWhileApprovalOff(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		st, err := s.MPA.Settings(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("read approval settings", "err", err)
			}
			return
		}
		if !st.Enabled {
			warnApprovalOff(s.log)
		}
	})
}
