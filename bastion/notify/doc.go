// Package notify tells the outside world what happens to requests, and
// copies the audit trail to a file, both by following the store's change
// feed.
//
// Webhooks: when a request is created, approved, rejected, cancelled,
// expires, completes or is interrupted, a [Notifier] POSTs a JSON
// [Notification] to each configured endpoint, signed with HMAC-SHA256 of
// the body in the X-Keyturn-Signature header ("sha256=" and the hex
// digest). Its text field reads as a chat message; the other fields are
// for programs.
//
// Nothing here can slow the gate. The gate writes only to the store; the
// store hands changes to this package's reader without waiting for it;
// the reader puts each notification on a bounded queue per endpoint and
// moves on, dropping the oldest when a queue is full (counted in
// keyturn_webhook_notifications_total{result="dropped"}). One goroutine per
// endpoint sends, retrying with exponential backoff a bounded number of
// times.
//
// Notifications are read from the audit trail, where each request
// transition is one event committed with the request: a notification's id
// (X-Keyturn-Delivery) is derived from its event's chain hash, so it is
// the same whichever gate sends it. Gates sharing a store elect one
// webhooks leader; it saves how far every endpoint got (a store mark), and
// the next leader, or the same gate after a restart, resumes from there.
// Delivery is at least once: a notification the old leader sent just
// before it stopped may come again, with the same id, and receivers drop
// ids they have seen. The audit trail, not the webhook, is the record.
//
// The audit file: [AuditFile] appends each audit event to an
// [audit.Mirror] as it is committed, fsyncing once per batch.
package notify
