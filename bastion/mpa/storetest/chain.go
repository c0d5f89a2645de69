package storetest

import (
	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// VerifyChain checks the audit chain tx appends to, from its first event,
// against the head tx has recorded for it, and returns that head. Tests
// of backends and of the service use it to show no write broke the chain.
func VerifyChain(tx mpa.Tx) (audit.Head, error) {
	head, err := tx.AuditHead(tx.AuditChain())
	if err != nil {
		return audit.Head{}, err
	}
	v, err := audit.VerifyHead(tx.AuditEvents(tx.AuditChain(), 1))
	if err != nil {
		return audit.Head{}, err
	}
	if err := audit.CheckHead(v, head); err != nil {
		return audit.Head{}, err
	}
	return head, nil
}
