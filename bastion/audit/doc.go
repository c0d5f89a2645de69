// Package audit is keyturn's tamper-evident audit trail.
//
// Every event carries the SHA-256 of the event before it, so an event that
// was edited, removed or moved after it was written breaks the chain, and
// [Verify] names the first event where it breaks. The chain proves nothing
// about who wrote it: root on the gate host can rewrite the whole trail. What
// it buys is that a partial rewrite (one approval removed, one actor changed)
// cannot go unnoticed, and that an auditor can check an export offline with
// [VerifyJSONL].
//
// Several gates sharing one store each append to their own chain, named by
// the gate; anchor events tie the chains together so that one chain cannot
// be cut or rewritten unnoticed (see [AnchorData] and [VerifyChains]). A
// single gate has one chain with no name, hashed as before chains had
// names.
//
// This package holds the event format, the hash, verification, filtering and
// JSON Lines export. Storing events is the store's job: a store appends an
// event in the same transaction as the state change it records (see
// [Seal]), so state and audit never disagree.
package audit
