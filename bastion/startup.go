package bastion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/policy"
)

// HostKey is the gate's SSH host key, as clients see it.
func (g *Gate) HostKey() gossh.PublicKey { return g.hostKey.PublicKey() }

// Digest is the SHA-256 of the policy text in force, in hex: two gates
// with the same digest enforce the same policy.
func (h *PolicyHolder) Digest() string {
	sum := sha256.Sum256(*h.text.Load())
	return hex.EncodeToString(sum[:])
}

// QuorumWarnings names each action whose quorum no request could reach
// with approvers approvers: even a requester who is not one of them needs
// that many others.
func QuorumWarnings(actions []policy.Action, approvers int) []string {
	var out []string
	for _, a := range actions {
		if a.RequiredApprovals > approvers {
			out = append(out, fmt.Sprintf("action %s needs %s but %s registered; its requests are refused until more approvers register",
				a.Name, plural(a.RequiredApprovals, "approval"), countIsAre(approvers, "approver")))
		}
	}
	return out
}

func countIsAre(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("only 1 %s is", word)
	}
	return fmt.Sprintf("only %d %ss are", n, word)
}

// Approvers counts the registered approvers who hold the approver role.
func (g *Gate) Approvers(ctx context.Context) (int, error) {
	as, err := g.mpa.Approvers(ctx)
	if err != nil {
		return 0, err
	}
	return eligibleApprovers(g.cfg, as, ""), nil
}

// Name is the gate's name from the config, "keyturn" by default.
func (g *Gate) Name() string { return g.name() }

// configApprovers counts the users cfg gives the approver role: an upper
// bound on the approvers who can ever register, for checks made without
// the store ('keyturn serve --check').
func configApprovers(cfg *config.Config) int {
	n := 0
	for _, u := range cfg.Users {
		if u.HasRole(config.RoleApprover) {
			n++
		}
	}
	return n
}

// CheckConfig loads what the gate would start from, without opening the
// store or binding a port: the config, then the policy. It returns a
// one-line summary and the warnings a start would log about quorums the
// configured approvers could never reach.
func CheckConfig(cfg *config.Config) (summary string, warnings []string, err error) {
	p, err := policy.Load(cfg.Policies)
	if err != nil {
		return "", nil, err
	}
	n := configApprovers(cfg)
	summary = fmt.Sprintf("%s: ok, %s, %s (%s); %s: ok, %s",
		cfg.Path(), plural(len(cfg.Users), "user"), plural(len(cfg.Targets), "target"),
		plural(n, "approver"), cfg.Policies, plural(len(p.Actions()), "action"))
	for _, a := range p.Actions() {
		if a.RequiredApprovals > n {
			warnings = append(warnings, fmt.Sprintf("action %s needs %s but the config gives only %s the approver role",
				a.Name, plural(a.RequiredApprovals, "approval"), plural(n, "user")))
		}
	}
	errs, gw := CheckApproverGroups(cfg, p)
	if len(errs) > 0 {
		return "", nil, errors.New(strings.Join(errs, "\n"))
	}
	return summary, append(warnings, gw...), nil
}

// noteReload remembers whether the file on disk loads, so approvers can be
// shown a broken file (the last good policy stays in force meanwhile), and
// logs when a broken file is fixed.
func (h *PolicyHolder) noteReload(err error) {
	if err != nil {
		msg := err.Error()
		h.problem.Store(&msg)
		return
	}
	if old := h.problem.Swap(nil); old != nil {
		h.log.Info("policy file loads again; the earlier error is gone", "file", h.path, "was", *old)
	}
}

// Problem says why policies.yaml on disk did not load at the last reload,
// or "" if it did.
func (h *PolicyHolder) Problem() string {
	if p := h.problem.Load(); p != nil {
		return *p
	}
	return ""
}

// policyProblem is the gate's policy's Problem, if its decider has one.
func (g *Gate) policyProblem() string {
	if p, ok := g.policy.(interface{ Problem() string }); ok {
		return p.Problem()
	}
	return ""
}

// RuleLine is the policy file's name and the line of rule id
// ("actions[2].match[0]") in the policy text in force; line is 0 if it
// cannot be found.
func (h *PolicyHolder) RuleLine(id string) (file string, line int) {
	return filepath.Base(h.path), ruleLine(*h.text.Load(), id)
}
