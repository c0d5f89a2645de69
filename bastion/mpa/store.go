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
//     slow reader's changes are queued. Every change carries the store
//     revision it was committed at (Change.Rev): the changes of one
//     transaction share one revision and arrive together, its records
//     (requests, approvers, settings) before its audit events, and those
//     in chain order, so a reader told of an event has already seen the
//     request it is about as that transaction left it. A store that
//     lost changes (a compacted or broken etcd watch) says so with a
//     [ChangeResync] and goes on from a later revision: the reader must
//     re-read what it follows, never assume that nothing happened.
//   - Join makes this process the one live gate named gateID until its
//     Membership ends (closed, or its lease lost: a partition or a crash).
//   - Campaign blocks until this process leads the named election, or ctx
//     is done. A Leadership is a fence: [Leadership.Fence] inside an
//     Update makes the transaction commit only while the leadership holds.
//
// Stores whose writes come from one process (Badger, with its data-dir
// lock) implement Join and Campaign trivially.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	Changes(ctx context.Context) (<-chan Change, error)
	Join(ctx context.Context, gateID string) (Membership, error)
	Campaign(ctx context.Context, election, gateID string) (Leadership, error)
}

// Membership is a gate's live registration in a store. Done is closed when
// it ends: after Close, or when the store stopped hearing from the gate
// (its lease expired) and others may take its gate_id and consider its
// running commands interrupted. A gate whose membership ended must stop
// releasing commands.
type Membership interface {
	Done() <-chan struct{}
	Close() error
}

// Leadership is this gate's term as the leader of one election. Done is
// closed when it ends (Resign, or the membership under it lost).
type Leadership interface {
	Done() <-chan struct{}
	// Fence, called inside an Update's fn, makes that transaction commit
	// only if this term still holds at commit; otherwise Update fails with
	// an error wrapping [ErrNotLeader]. The check is part of the commit,
	// so a leader that paused past its lease cannot write stale decisions.
	Fence(tx Tx) error
	Resign(ctx context.Context) error
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
	// LiveRequests yields the requests whose status is not final
	// (Pending, Approved, Executing), in id order, from an index kept in
	// the same transactions as the requests: loops over live requests
	// never read the finished history.
	LiveRequests() iter.Seq2[Request, error]

	GetApprover(name string) (Approver, error)
	PutApprover(a Approver) error
	Approvers() iter.Seq2[Approver, error]

	// GetSettings returns the zero Settings if none were stored.
	GetSettings() (Settings, error)
	PutSettings(s Settings) error

	// AppendAudit links e after the head of this store's own chain
	// ([Tx.AuditChain], whose head it reads in this transaction, see
	// [audit.Seal]), sets e.Chain and writes e without a TTL. It returns
	// the sealed event. Appends to one chain serialise on its head;
	// appends to different chains (different gates) never conflict.
	AppendAudit(e audit.Event) (audit.Event, error)
	// AuditChain names the chain AppendAudit appends to: "" on a store
	// one gate owns (Badger), the gate's gate_id on a shared store.
	AuditChain() string
	// AuditHead returns the position of chain's last event (the zero
	// Head for a chain with none).
	AuditHead(chain string) (audit.Head, error)
	// AuditChains returns the head of every chain in the store, by name.
	// Chains only grow, so in an Update this read does not make the
	// transaction conflict with appends to other chains (see
	// audit.AnchorData).
	AuditChains() (map[string]audit.Head, error)
	// AuditEvents yields chain's events with Seq >= from in chain order.
	AuditEvents(chain string, from uint64) iter.Seq2[audit.Event, error]
	// GateLive reports whether gateID has a live membership (see
	// Store.Join). It is a read like the others: a transaction that acts
	// on a gate being gone does not commit if the gate joined meanwhile.
	GateLive(gateID string) (bool, error)
	// LiveGates lists the gate_ids with a live membership, as a scan: a
	// gate joining before the transaction commits makes it conflict.
	LiveGates() ([]string, error)
}

// ChangeKind says what kind of record a [Change] carries.
type ChangeKind uint8

const (
	ChangeRequest ChangeKind = iota + 1
	ChangeApprover
	ChangeSettings
	ChangeAudit
	// ChangeResync says that the store may have lost changes before this
	// one (Rev is where the feed resumes): re-read what you follow.
	ChangeResync
)

// Change is one committed write. Exactly one of the pointer fields is set,
// per Kind (none for ChangeResync).
type Change struct {
	Kind ChangeKind
	// Rev is the store revision the change was committed at; the
	// changes of one transaction share it. Revisions grow with commit
	// order.
	Rev      uint64
	Request  *Request
	Approver *Approver
	Settings *Settings
	Audit    *audit.Event
}
