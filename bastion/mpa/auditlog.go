package mpa

import (
	"context"
	"fmt"
	"iter"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Record appends an event the gate observed (a session, a policy
// decision) to the audit chain, and returns once it is committed. Events
// about requests are recorded by the Service itself, in the transaction
// that changes them.
//
// Concurrent Records are group-committed (see [Sequencer]): one
// transaction, and one fsync, for all the records that arrived while the
// previous one committed.
func (s *Service) Record(ctx context.Context, e audit.Event) (audit.Event, error) {
	if len(e.Data) > MaxEventData {
		return audit.Event{}, fmt.Errorf("record audit %s: data of %d bytes, over %d: %w", e.Kind, len(e.Data), MaxEventData, ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = s.clock()
	}
	if s.seq == nil {
		var out audit.Event
		err := s.update(ctx, func(tx Tx) error {
			var err error
			out, err = tx.AppendAudit(e)
			return err
		})
		if err != nil {
			return audit.Event{}, fmt.Errorf("record audit %s: %w", e.Kind, err)
		}
		return out, nil
	}
	return s.seq.Record(ctx, e)
}

// AuditEvents yields the audit events that match f, in chain order, from
// one consistent snapshot. Stop early by breaking out of the loop.
func (s *Service) AuditEvents(ctx context.Context, f audit.Filter) iter.Seq2[audit.Event, error] {
	return audit.Filtered(s.allAudit(ctx), f)
}

func (s *Service) allAudit(ctx context.Context) iter.Seq2[audit.Event, error] {
	return func(yield func(audit.Event, error) bool) {
		stopped := false
		err := s.store.View(ctx, func(tx Tx) error {
			for e, err := range tx.AuditEvents(1) {
				if !yield(e, err) {
					stopped = true
					return nil
				}
				if err != nil {
					stopped = true
					return nil
				}
			}
			return nil
		})
		if err != nil && !stopped {
			yield(audit.Event{}, err)
		}
	}
}

// VerifyAudit walks the whole chain and checks it ends at the store's
// head record, returning a *audit.ChainError for the first bad event.
func (s *Service) VerifyAudit(ctx context.Context) error {
	return s.store.View(ctx, func(tx Tx) error {
		head, err := tx.AuditHead()
		if err != nil {
			return err
		}
		got, err := audit.VerifyHead(tx.AuditEvents(1))
		if err != nil {
			return err
		}
		return audit.CheckHead(got, head)
	})
}
