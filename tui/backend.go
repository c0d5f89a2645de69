package tui

import (
	"context"
	"iter"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Backend is the part of [mpa.Service] the console uses. It is defined
// here, where it is used, and *mpa.Service satisfies it: every rule
// (quorum, self-approval, TOTP, lockout) is the service's, and the console
// only shows the service's answers.
type Backend interface {
	List(ctx context.Context, f mpa.ListFilter) ([]mpa.Request, error)
	WatchAll(ctx context.Context) (<-chan mpa.Request, error)
	Approve(ctx context.Context, id, approver string, in mpa.VoteInput) (mpa.Request, error)
	Reject(ctx context.Context, id, approver string, in mpa.VoteInput) (mpa.Request, error)
	Cancel(ctx context.Context, id, user string) (mpa.Request, error)
	AuditEvents(ctx context.Context, f audit.Filter) iter.Seq2[audit.Event, error]
	Approver(ctx context.Context, name string) (mpa.Approver, error)
	InitiateRegistration(ctx context.Context, user string, force bool) (mpa.Registration, error)
	CompleteRegistration(ctx context.Context, user, code string) (mpa.Approver, *mpa.Request, error)
}

var _ Backend = (*mpa.Service)(nil)

// Viewer is who opened the console, as the gate authenticated them.
type Viewer struct {
	Name string
	// Approver is whether the gate's roles make Name an approver. An
	// approver sees every pending request and may register a TOTP secret;
	// anyone else sees only their own requests, and may cancel them.
	Approver bool
}
