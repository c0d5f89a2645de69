// Package badgerstore implements mpa.Store on an embedded Badger v4
// database in the gate's data dir.
//
// Writes are synced to disk before a transaction returns. Transactions
// that conflict with a concurrent writer (two approvers voting at once) are
// retried transparently. Finished requests get a Badger TTL for retention;
// audit events never do. With an encryption key everything on disk,
// including approvers' TOTP secrets, is encrypted. Change events are
// driven by commits through Badger's Subscribe.
//
// A data dir is locked while open: a second keyturn process (or a second
// Open in the same process) gets ErrInUse.
//
// Keys:
//
//	req/<id>          mpa.Request (JSON)
//	apr/<name>        mpa.Approver (JSON, with TOTP secrets)
//	set/global        mpa.Settings (JSON)
//	aud/<seq, 8 bytes big-endian>  audit.Event (JSON)
//	meta/audit-head   audit.Head of the last event
//	meta/insert/<prefix>  written when a key under prefix is created, read
//	                  by every scan of prefix, so scans conflict with inserts
package badgerstore
