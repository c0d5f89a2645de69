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
// times. Delivery is at most once per gate and best effort: what is still
// queued when the gate stops is lost, and the audit trail, not the
// webhook, is the record. Every gate sharing a store notifies, so give
// the webhooks to one of them.
//
// The audit file: [AuditFile] appends each audit event to an
// [audit.Mirror] as it is committed, fsyncing once per batch.
package notify
