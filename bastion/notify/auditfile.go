package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// AuditFile keeps an [audit.Mirror] up to date with the store.
type AuditFile struct {
	m   *audit.Mirror
	log *slog.Logger

	// written, if set (tests), runs after each batch with the new head.
	written func(audit.Head)

	// chain is the store's own chain, the one mirrored (set by catchUp):
	// with several gates on one store each gate mirrors its own chain.
	chain string
}

// NewAuditFile returns an AuditFile writing to m; Run starts it.
func NewAuditFile(m *audit.Mirror, log *slog.Logger) *AuditFile {
	if log == nil {
		log = slog.Default()
	}
	return &AuditFile{m: m, log: log}
}

// Run copies the store's audit chain (its own, with several gates on one
// store) to m until ctx is done or the
// store closes: first the events the file lacks (all of them for a new
// file), then each batch as it is committed. The feed only says when to
// look; the events are read from the store in chain order, since one
// transaction's events may arrive in any order. A write error is logged
// and retried with the next batch; a file holding another chain stops the
// mirror with [audit.ErrMirrorDiverged].
func (a *AuditFile) Run(ctx context.Context, st mpa.Store) error {
	changes, err := st.Changes(ctx)
	if err != nil {
		return fmt.Errorf("audit mirror: follow store: %w", err)
	}
	if err := a.catchUp(ctx, st); err != nil {
		return err
	}
	for c := range changes {
		if c.Kind != mpa.ChangeResync && (c.Kind != mpa.ChangeAudit || c.Audit.Chain != a.chain || c.Audit.Seq <= a.m.Head().Seq) {
			continue
		}
		drain(changes)
		if err := a.catchUp(ctx, st); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// drain discards the changes already waiting: the next read covers them.
func drain(changes <-chan mpa.Change) {
	for {
		select {
		case _, ok := <-changes:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// catchUp appends the store's events after the file's head.
func (a *AuditFile) catchUp(ctx context.Context, st mpa.Store) error {
	m, log := a.m, a.log
	from := max(m.Head().Seq, 1) // the head itself, to check it is the store's
	var n int
	err := st.View(ctx, func(tx mpa.Tx) error {
		var err error
		a.chain = tx.AuditChain()
		n, err = m.Append(tx.AuditEvents(a.chain, from))
		return err
	})
	switch {
	case errors.Is(err, audit.ErrMirrorDiverged):
		return err
	case err != nil && ctx.Err() == nil:
		log.Error("audit mirror write failed; retrying with the next event", "err", err, "seq", m.Head().Seq)
	case n > 0:
		log.Debug("audit mirror written", "events", n, "seq", m.Head().Seq)
	}
	if a.written != nil {
		a.written(m.Head())
	}
	return nil
}
