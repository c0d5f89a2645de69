package mpa

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"time"

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

// AuditEvents yields the audit events that match f from one consistent
// snapshot: in chain order with one chain; with several (gates sharing a
// store) interleaved by time, each chain in its own order (see
// [audit.Merge]). Stop early by breaking out of the loop.
func (s *Service) AuditEvents(ctx context.Context, f audit.Filter) iter.Seq2[audit.Event, error] {
	return audit.Filtered(s.allAudit(ctx), f)
}

func (s *Service) allAudit(ctx context.Context) iter.Seq2[audit.Event, error] {
	return func(yield func(audit.Event, error) bool) {
		stopped := false
		err := s.store.View(ctx, func(tx Tx) error {
			heads, err := tx.AuditChains()
			if err != nil {
				return err
			}
			chains := map[string]iter.Seq2[audit.Event, error]{}
			for name := range heads {
				chains[name] = tx.AuditEvents(name, 1)
			}
			for e, err := range audit.Merge(chains) {
				if !yield(e, err) || err != nil {
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

// VerifyAudit checks the whole trail (see [Service.VerifyAuditChains]).
func (s *Service) VerifyAudit(ctx context.Context) error {
	_, err := s.VerifyAuditChains(ctx)
	return err
}

// VerifyAuditChains walks every chain in one snapshot, checks each ends
// at the store's head record for it and that every anchor matches the
// chain it names (see [audit.VerifyChains]), and returns the verified
// heads by chain; a *audit.ChainError names the first bad event.
func (s *Service) VerifyAuditChains(ctx context.Context) (map[string]audit.Head, error) {
	return viewOne(ctx, s.store, func(tx Tx) (map[string]audit.Head, error) {
		return audit.VerifyChains(txChains{tx})
	})
}

// txChains is a transaction's trail as an audit.ChainSource.
type txChains struct{ tx Tx }

func (c txChains) Heads() (map[string]audit.Head, error) { return c.tx.AuditChains() }
func (c txChains) Events(chain string, from uint64) iter.Seq2[audit.Event, error] {
	return c.tx.AuditEvents(chain, from)
}

// AnchorEvery is how often [Service.RunAnchors] anchors the other chains.
const AnchorEvery = time.Second

// Anchor appends a [audit.KindAnchor] event to this gate's chain naming
// the heads of every other chain in the store, unless none moved since
// this Service last anchored them. It reports whether it recorded one. A
// store with one chain never needs one.
func (s *Service) Anchor(ctx context.Context) (bool, error) {
	var own string
	var heads map[string]audit.Head
	err := s.store.View(ctx, func(tx Tx) error {
		own = tx.AuditChain()
		var err error
		heads, err = tx.AuditChains()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("anchor audit chains: %w", err)
	}
	delete(heads, own)
	s.anchorMu.Lock()
	defer s.anchorMu.Unlock()
	if len(heads) == 0 || maps.Equal(heads, s.anchored) {
		return false, nil
	}
	if _, err := s.Record(ctx, audit.Event{Kind: audit.KindAnchor, Actor: SystemActor,
		Data: audit.Data(audit.AnchorData{Chains: heads})}); err != nil {
		return false, fmt.Errorf("anchor audit chains: %w", err)
	}
	s.anchored = heads
	return true, nil
}

// RunAnchors anchors the other chains at once and then every
// [AnchorEvery] until ctx is done (a gate on a shared store runs it). A
// failure is logged and tried again at the next tick.
func (s *Service) RunAnchors(ctx context.Context) {
	t := time.NewTicker(AnchorEvery)
	defer t.Stop()
	for {
		if _, err := s.Anchor(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("audit anchor not recorded; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
