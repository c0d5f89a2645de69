// Package etcdstore implements mpa.Store on etcd v3, so that several gates
// share one replicated store: a request held on one gate is seen, approved
// and released through any other.
//
// Transactions are optimistic, because etcd's own STM cannot read ranges:
// the first read pins a revision and every later read is served at it (a
// snapshot); each key read is remembered with its mod revision and each
// prefix scanned with the revision it was read at. The writes are sent as
// one Txn whose compares check that none of those keys changed and that
// no key under a scanned prefix was written after the pinned revision; a
// scanned prefix also reads a deletion marker, which the retention sweep
// bumps, so a deletion under it conflicts too. A failed compare is a
// conflict: fn runs again on a fresh snapshot, a bounded number of times.
// A commit whose outcome is unknown (a timeout, a lost connection) is not
// retried: the error goes back to the caller, which fails closed.
//
// etcd's limits are checked before sending, with errors that name them:
// at most MaxTxnOps writes (the server's --max-txn-ops, 128 by default)
// and at most MaxRequestBytes per transaction (--max-request-bytes, 1.5
// MiB by default). When a transaction read more keys than MaxTxnOps
// compares allow, its compares are folded into one over the whole store
// prefix: stricter (any write elsewhere conflicts), never weaker.
//
// Retention uses no leases (a lease is reset when etcd's leader changes):
// a finished request is stored with its expiry time, reads treat it as
// gone from then on, and a sweep on every gate deletes it later.
//
// Approvers' TOTP secrets are encrypted with AES-GCM by the gate before
// they are written (etcd has no encryption at rest); the key never
// reaches etcd. A secret found in the clear is refused, not used.
//
// Membership (Join) is a key on a session lease, created only if absent:
// one live gate per gate_id. Campaign is etcd's election on the same kind
// of session; its leader key is the fence, read inside the transaction so
// that the commit's compares include it.
//
// Each gate appends to its own audit chain, so gates never conflict on a
// chain head; the chains are anchored together (see audit.AnchorData).
//
// Keys, under the configured prefix:
//
//	req/<id>              {"expires":..., "request": mpa.Request}
//	apr/<name>            mpa.Approver, secrets sealed
//	set/global            mpa.Settings
//	aud/<chain>/<seq, 16 hex>  audit.Event of chain (Options.Chain: the gate_id)
//	meta/audit-heads/<chain>   audit.Head of chain
//	meta/deleted/<p>      bumped by each retention delete under p
//	members/<gate_id>     on the gate's lease
//	elect/<name>/...      etcd election keys
package etcdstore
