package mpa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Options configures a [Service]. Zero fields take the documented defaults.
type Options struct {
	// Now is the clock; time.Now by default. Tests inject a fake one.
	Now    func() time.Time
	Logger *slog.Logger // slog.Default() by default

	Lifecycle Lifecycle // zero durations from DefaultLifecycle

	// LockoutThreshold bad codes in a row lock an approver out for
	// LockoutDuration (defaults 5 and 5 minutes).
	LockoutThreshold int
	LockoutDuration  time.Duration

	// CanApprove reports whether the gate's roles let user approve
	// requests for actions. Nil allows every registered approver.
	CanApprove func(user string, actions []ActionRef) bool

	// InGroup reports whether user is in group, by the groups in force;
	// asked at every vote and again at release, like CanApprove. Nil
	// puts nobody in any group: a request with an approvers rule then
	// can never be approved (fail closed).
	InGroup func(user, group string) bool

	// DefaultQuorum is the number of approvals for requests created
	// without one and for the requests the service creates itself
	// (register_approver, disable_mpa); 2 by default.
	DefaultQuorum int

	// Issuer names the gate in approvers' authenticator apps (the
	// otpauth issuer), so two gates' entries do not collide; "keyturn"
	// by default.
	Issuer string

	// Node names this gate in Execution records, so that with several
	// gates on one store each recovers only its own interrupted runs.
	// The host name by default.
	Node string

	// RecordBatch is the most audit records [Service.Record] commits in
	// one transaction (DefaultBatch if 0).
	RecordBatch int
}

// Service is the multi-party approval service. It is safe for concurrent
// use, and several Services (in one process or several gates) may share
// one Store.
type Service struct {
	store      Store
	now        func() time.Time
	log        *slog.Logger
	life       Lifecycle
	threshold  int
	lockFor    time.Duration
	canApprove func(string, []ActionRef) bool
	inGroup    func(user, group string) bool
	quorum     int
	node       string
	issuer     string // the otpauth issuer

	// writes serializes this service's read-write transactions. Every
	// write appends to this gate's audit chain, so concurrent writes from one
	// gate would all conflict on its head and retry; taking turns here
	// costs nothing they would not spend retrying. Gates sharing a store
	// still race each other, which the store's conflict retry handles.
	writes chan struct{} // a mutex that waits with a context

	// seq group-commits Record's events; its transactions go through
	// update, so they take turns with the service's other writes.
	seq *Sequencer

	// policyCheck, if set, vets each release against the policy record
	// (see SetPolicyCheck).
	policyCheck policyCheck

	// anchored is the other chains' heads this service last anchored
	// (see Anchor).
	anchorMu sync.Mutex
	anchored map[string]audit.Head
}

// update runs fn in a read-write store transaction, one at a time per
// service (see Service.writes).
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	select {
	case s.writes <- struct{}{}:
		defer func() { <-s.writes }()
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.store.Update(ctx, fn)
}

// viewOne reads one value in a read-only store transaction.
func viewOne[T any](ctx context.Context, st Store, read func(Tx) (T, error)) (T, error) {
	var v T
	err := st.View(ctx, func(tx Tx) error {
		var err error
		v, err = read(tx)
		return err
	})
	return v, err
}

// updateKeep is update for a change whose refusal must commit anyway (a
// failure counter, an expiry, a request sent back to Pending): fn stores
// that refusal in *keep and returns nil, the transaction commits, and
// updateKeep returns the refusal. An error fn returns aborts the
// transaction, as with update. *keep starts nil on every try, since the
// store may run fn again after a conflict.
func (s *Service) updateKeep(ctx context.Context, fn func(tx Tx, keep *error) error) error {
	var kept error
	err := s.update(ctx, func(tx Tx) error {
		kept = nil
		return fn(tx, &kept)
	})
	if err != nil {
		return err
	}
	return kept
}

// requesterTx reads request id in tx for a step only its requester may
// take. A request past its deadline is expired in tx instead and
// ErrExpired stored in *keep: the caller returns the error requesterTx
// returns (nil once the expiry is written) and goes no further.
func (s *Service) requesterTx(tx Tx, id, user string, keep *error) (Request, error) {
	r, err := tx.GetRequest(id)
	if err != nil {
		return r, err
	}
	if r.Requester != user {
		return r, ErrNotRequester
	}
	if r.due(s.clock()) {
		*keep = ErrExpired
		return r, s.expireTx(tx, &r)
	}
	return r, nil
}

// New returns a Service over store.
func New(store Store, opts Options) *Service {
	s := &Service{
		store:      store,
		now:        opts.Now,
		log:        opts.Logger,
		life:       opts.Lifecycle.withDefaults(),
		threshold:  opts.LockoutThreshold,
		lockFor:    opts.LockoutDuration,
		canApprove: opts.CanApprove,
		inGroup:    opts.InGroup,
		quorum:     opts.DefaultQuorum,
		node:       opts.Node,
		issuer:     opts.Issuer,
		writes:     make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.threshold <= 0 {
		s.threshold = 5
	}
	if s.lockFor <= 0 {
		s.lockFor = 5 * time.Minute
	}
	if s.canApprove == nil {
		s.canApprove = func(string, []ActionRef) bool { return true }
	}
	if s.inGroup == nil {
		s.inGroup = func(string, string) bool { return false }
	}
	if s.quorum <= 0 {
		s.quorum = 2
	}
	if s.issuer == "" {
		s.issuer = issuer
	}
	s.seq = newSequencer(s.update, opts.RecordBatch)
	if s.node == "" {
		if h, err := os.Hostname(); err == nil {
			s.node = h
		} else {
			s.node = "keyturn"
		}
	}
	return s
}

// Node is the name this gate writes in Execution records (Options.Node).
func (s *Service) Node() string { return s.node }

// Lifecycle returns the lifecycle in force.
func (s *Service) Lifecycle() Lifecycle { return s.life }

// clock returns the current time, truncated to the microsecond so that
// times survive a JSON round trip through the store unchanged.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newID returns "req-" and ten hex digits from crypto/rand: short enough to
// type, too many to guess.
func newID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new request id: %w", err)
	}
	return "req-" + hex.EncodeToString(b[:]), nil
}

// Hard bounds on what one request or event may carry, whatever the
// caller. The gate's own bounds are lower (max_command_line, 64 KiB by
// default; a why of 16 KiB); these stop any caller from making a record
// that costs more than its share of memory and disk, and keep every
// record under Badger's value threshold (1 MiB), so records stay in the
// LSM tree and never go to the value log.
const (
	MaxCommand   = 256 << 10
	MaxWhy       = 64 << 10
	MaxReason    = 4 << 10
	MaxEventData = 512 << 10
)

// Create stores a new Pending request and returns it.
//
// Only command and update_policy requests are created this way: the
// service creates register_approver and disable_mpa requests itself, after
// checking a TOTP code or the settings, so nobody can hand it a
// registration for an identity that never proved it holds a secret.
func (s *Service) Create(ctx context.Context, nr NewRequest) (Request, error) {
	if nr.Kind == "" {
		nr.Kind = KindCommand
	}
	switch {
	case nr.Kind != KindCommand && nr.Kind != KindUpdatePolicy:
		return Request{}, fmt.Errorf("create request: kind %q: %w", nr.Kind, ErrInvalid)
	case nr.Requester == "":
		return Request{}, fmt.Errorf("create request: no requester: %w", ErrInvalid)
	case nr.Kind == KindCommand && nr.Command == "":
		return Request{}, fmt.Errorf("create request: no command: %w", ErrInvalid)
	case nr.RequiredApprovals < 0:
		return Request{}, fmt.Errorf("create request: quorum %d: %w", nr.RequiredApprovals, ErrInvalid)
	case nr.Kind == KindCommand && len(nr.Command) > MaxCommand:
		return Request{}, fmt.Errorf("create request: command line of %d bytes, over %d: %w", len(nr.Command), MaxCommand, ErrInvalid)
	case len(nr.Why) > MaxWhy:
		return Request{}, fmt.Errorf("create request: decision explanation of %d bytes, over %d: %w", len(nr.Why), MaxWhy, ErrInvalid)
	case len(nr.Reason) > MaxReason:
		return Request{}, fmt.Errorf("create request: reason of %d bytes, over %d: %w", len(nr.Reason), MaxReason, ErrInvalid)
	}
	if err := checkRules(nr.Rules); err != nil {
		return Request{}, fmt.Errorf("create request: %w", err)
	}
	var out Request
	err := s.update(ctx, func(tx Tx) error {
		r, err := s.createTx(tx, nr)
		out = r
		return err
	})
	if err != nil {
		return Request{}, fmt.Errorf("create request for %s: %w", nr.Requester, err)
	}
	s.log.Info("mpa request created", "request", out.ID, "user", out.Requester,
		"target", out.Target, "kind", string(out.Kind), "required", out.RequiredApprovals)
	return out, nil
}

// createTx writes a new Pending request and its audit event in tx.
func (s *Service) createTx(tx Tx, nr NewRequest) (Request, error) {
	id, err := newID()
	if err != nil {
		return Request{}, err
	}
	now := s.clock()
	q := nr.RequiredApprovals
	if q == 0 {
		q = s.quorum
	}
	r := Request{
		ID:                id,
		Kind:              nr.Kind,
		Actions:           slices.Clone(nr.Actions),
		Target:            nr.Target,
		Command:           nr.Command,
		Why:               slices.Clone(nr.Why),
		Requester:         nr.Requester,
		RequesterCert:     nr.RequesterCert,
		Reason:            nr.Reason,
		Created:           now,
		Updated:           now,
		Status:            StatusPending,
		RequiredApprovals: q,
		Rules:             cloneRules(nr.Rules),
		ExpiresAt:         now.Add(shorter(nr.PendingTTL, s.life.PendingTTL)),
		ApprovalTTL:       shorter(nr.ApprovalTTL, s.life.ApprovalTTL),
		PTY:               nr.PTY,
		Payload:           slices.Clone(nr.Payload),
	}
	if r.Kind == KindUpdatePolicy {
		st, err := tx.GetSettings()
		if err != nil {
			return Request{}, err
		}
		r.PolicyBase = policyDigest(st.Policy)
	}
	if err := tx.PutRequest(r, 0); err != nil {
		return Request{}, err
	}
	data := map[string]any{
		"kind": r.Kind, "actions": r.Actions, "command": r.Command, "reason": r.Reason,
		"required_approvals": r.RequiredApprovals, "expires_at": r.ExpiresAt, "pty": r.PTY,
	}
	if len(r.Why) > 0 {
		data["why"] = r.Why
	}
	if r.RequesterCert != "" {
		data["requester_cert"] = r.RequesterCert
	}
	if len(r.Rules) > 0 {
		data["approver_rules"] = r.Rules
	}
	if err := s.audit(tx, audit.KindRequestCreated, r.Requester, &r, data); err != nil {
		return Request{}, err
	}
	return r, nil
}

// policyDigest identifies a policy record.
func policyDigest(record []byte) string {
	sum := sha256.Sum256(record)
	return hex.EncodeToString(sum[:])
}

// shorter returns the policy's time d unless it is unset or longer than the
// lifecycle's limit.
func shorter(d, limit time.Duration) time.Duration {
	if d <= 0 || d > limit {
		return limit
	}
	return d
}

// audit appends an event about r (nil for none) in tx.
func (s *Service) audit(tx Tx, kind, actor string, r *Request, data map[string]any) error {
	e := audit.Event{Time: s.clock(), Kind: kind, Actor: actor}
	if r != nil {
		e.Request = r.ID
		e.Target = r.Target
	}
	if data != nil {
		e.Data = audit.Data(data)
	}
	if _, err := tx.AppendAudit(e); err != nil {
		return fmt.Errorf("audit %s: %w", kind, err)
	}
	return nil
}

// transition moves r to status to, writes it with its retention TTL and
// audits the change, all in tx.
func (s *Service) transition(tx Tx, r *Request, to Status, actor string, data map[string]any) error {
	from := r.Status
	r.Status = to
	r.Updated = s.clock()
	if to.Final() {
		r.ExpiresAt = time.Time{}
	}
	if err := tx.PutRequest(*r, s.life.Retention(to)); err != nil {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	data["from"] = from.String()
	data["to"] = to.String()
	return s.audit(tx, audit.KindRequestPrefix+to.String(), actor, r, data)
}

// Get returns a request. A live request past its expiry is shown Expired
// even before the sweeper (see [Service.Run]) has recorded it.
func (s *Service) Get(ctx context.Context, id string) (Request, error) {
	r, err := viewOne(ctx, s.store, func(tx Tx) (Request, error) { return tx.GetRequest(id) })
	if err != nil {
		return Request{}, fmt.Errorf("get %s: %w", id, err)
	}
	s.effective(&r)
	return r, nil
}

// effective shows a past-due live request as Expired.
func (s *Service) effective(r *Request) {
	if r.due(s.clock()) {
		r.Status = StatusExpired
	}
}

// ListFilter selects requests for [Service.List]. Zero fields match all.
type ListFilter struct {
	Statuses  []Status
	Requester string
	Kind      Kind
}

// List returns the requests that match f, oldest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Request, error) {
	// Live statuses only: read the live index, not the whole history.
	scan := Tx.Requests
	if len(f.Statuses) > 0 && !slices.ContainsFunc(f.Statuses, func(st Status) bool { return st.Final() }) {
		scan = Tx.LiveRequests
	}
	var out []Request
	err := s.store.View(ctx, func(tx Tx) error {
		for r, err := range scan(tx) {
			if err != nil {
				return err
			}
			s.effective(&r)
			if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, r.Status) ||
				f.Requester != "" && r.Requester != f.Requester ||
				f.Kind != "" && r.Kind != f.Kind {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	slices.SortFunc(out, func(a, b Request) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Cancel withdraws a Pending or Approved request; only its requester may.
func (s *Service) Cancel(ctx context.Context, id, user string) (Request, error) {
	return s.CancelBecause(ctx, id, user, "")
}

// CancelBecause is [Service.Cancel] with a reason, recorded in the
// request.cancelled audit event (and so shown to approvers following the
// feed): keyturn uses it to withdraw a policy change the file no longer
// holds.
func (s *Service) CancelBecause(ctx context.Context, id, user, reason string) (Request, error) {
	var out Request
	err := s.updateKeep(ctx, func(tx Tx, keep *error) error {
		r, err := s.requesterTx(tx, id, user, keep)
		if err != nil || *keep != nil {
			return err
		}
		if r.Status != StatusPending && r.Status != StatusApproved {
			return fmt.Errorf("%w: it is %s", ErrNotPending, r.Status)
		}
		var data map[string]any
		if reason != "" {
			data = map[string]any{"reason": reason}
		}
		if err := s.transition(tx, &r, StatusCancelled, user, data); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("cancel %s: %w", id, err)
	}
	s.log.Info("mpa request cancelled", "request", id, "user", user, "reason", reason)
	return out, nil
}

// isNotFound reports whether err is (or wraps) ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
