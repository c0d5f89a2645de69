package mpa

import (
	"context"
	"iter"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Store is the persistence the [Service] needs. It is defined here, by its
// user, so that a second backend (etcd, for sites running several gates on
// one replicated store) implements the same contract as Badger.
//
// Contract:
//   - Update runs fn in a serializable read-write transaction and commits
//     it if fn returns nil. If the commit conflicts with a concurrent
//     transaction that wrote something fn read, Update runs fn again on a
//     fresh transaction, a bounded number of times, then returns an error
//     wrapping [ErrConflict]. fn must therefore have no effects outside tx
//     (or reset them at its start). An error from fn aborts the
//     transaction and is returned as is.
//   - View runs fn in a read-only snapshot.
//   - Changes delivers every committed change to requests, approvers,
//     settings and the audit trail, in commit order, to every gate sharing
//     the store. The subscription is live when Changes returns: a change
//     committed after that is delivered. Delivery never blocks writers: a
//     slow reader's changes are queued.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	Changes(ctx context.Context) (<-chan Change, error)
}

// Tx is one store transaction. Reads see the transaction's own writes.
// Getters return [ErrNotFound] (possibly wrapped) for missing records.
type Tx interface {
	GetRequest(id string) (Request, error)
	// PutRequest writes r. A positive ttl makes the store remove the
	// record that long after this write (retention); 0 keeps it.
	PutRequest(r Request, ttl time.Duration) error
	// Requests yields every stored request, in id order.
	Requests() iter.Seq2[Request, error]

	GetApprover(name string) (Approver, error)
	PutApprover(a Approver) error
	Approvers() iter.Seq2[Approver, error]

	// GetSettings returns the zero Settings if none were stored.
	GetSettings() (Settings, error)
	PutSettings(s Settings) error

	// AppendAudit links e after the chain's head (read in this
	// transaction, see [audit.Seal]) and writes it without a TTL. It
	// returns the sealed event.
	AppendAudit(e audit.Event) (audit.Event, error)
	// AuditHead returns the last event's position.
	AuditHead() (audit.Head, error)
	// AuditEvents yields events with Seq >= from in chain order.
	AuditEvents(from uint64) iter.Seq2[audit.Event, error]
}

// ChangeKind says what kind of record a [Change] carries.
type ChangeKind uint8

const (
	ChangeRequest ChangeKind = iota + 1
	ChangeApprover
	ChangeSettings
	ChangeAudit
)

// Change is one committed write. Exactly one of the pointer fields is set,
// per Kind.
type Change struct {
	Kind     ChangeKind
	Request  *Request
	Approver *Approver
	Settings *Settings
	Audit    *audit.Event
}
