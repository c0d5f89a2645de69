package notify

import (
	"context"
	"sync"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// progress is how far the webhooks got through the audit trail: every
// event before next was read, and open counts the endpoints still to
// finish each event's notification. The mark is the last sequence number
// before which nothing is open.
type progress struct {
	mu    sync.Mutex
	next  uint64
	open  map[uint64]int
	saved uint64
	// stored: saved is in the store (false until the first save when
	// the store had no mark).
	stored bool
}

func newProgress() *progress { return &progress{open: map[uint64]int{}} }

// start sets where reading starts; stored says whether the mark it
// comes from is in the store already.
func (p *progress) start(next uint64, stored bool) {
	p.mu.Lock()
	p.next, p.saved, p.stored = next, next-1, stored
	p.mu.Unlock()
}

// skip moves reading on to from (events before it are not sent).
func (p *progress) skip(from uint64) {
	p.mu.Lock()
	p.next = max(p.next, from)
	p.mu.Unlock()
}

// handled records that event seq was read and taken by n endpoints.
func (p *progress) handled(seq uint64, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if n > 0 {
		p.open[seq] += n
	}
	p.next = max(p.next, seq+1)
	p.mu.Unlock()
}

// done records that one endpoint is done with event seq.
func (p *progress) done(seq uint64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.open[seq]--; p.open[seq] <= 0 {
		delete(p.open, seq)
	}
	p.mu.Unlock()
}

// mark returns the sequence number up to which every notification is
// done, and whether it moved since it was last saved.
func (p *progress) mark() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == 0 {
		return 0, false
	}
	m := p.next - 1
	for seq := range p.open {
		m = min(m, seq-1)
	}
	return m, m > p.saved || !p.stored
}

func (p *progress) setSaved(m uint64) {
	p.mu.Lock()
	p.saved = max(p.saved, m)
	p.stored = true
	p.mu.Unlock()
}

// keepMark saves the mark every markEvery while ctx lasts, and once more
// as it ends, each write fenced (see RunFenced). A store without marks
// keeps none.
func (n *Notifier) keepMark(ctx context.Context, st mpa.Store, fence func(mpa.Tx) error) {
	save := func(ctx context.Context) {
		m, moved := n.progress.mark()
		if !moved {
			return
		}
		err := st.Update(ctx, func(tx mpa.Tx) error {
			mt, ok := tx.(mpa.MarkTx)
			if !ok {
				return nil
			}
			if fence != nil {
				if err := fence(tx); err != nil {
					return err
				}
			}
			return mt.PutMark(MarkName, m)
		})
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("webhook: could not save the position; a follower may send some notifications again", "seq", m, "err", err)
			}
			return
		}
		n.progress.setSaved(m)
	}
	t := time.NewTicker(markEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// ctx is done: the last mark is saved under a bound
			// of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			save(fctx)
			cancel()
			return
		case <-t.C:
			save(ctx)
		}
	}
}
