// Package server assembles a keyturn gate from its config: it opens the
// store (Badger or etcd) and joins it, builds the approval service, the
// policy controller, the target pool, metrics, webhooks and the audit
// file, and hands the gate (package bastion, the SSH transport) the parts
// it needs as interfaces. It owns every long-lived goroutine of a running
// gate: they start in layers and stop in reverse, and the store closes
// last. cmd/keyturn calls Open and Run; nothing else does assembly.
package server
