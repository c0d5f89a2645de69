package notify

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// progress is how far the webhooks got through each audit chain (one per
// gate on a shared store, see audit.AnchorData).
type progress struct {
	mu     sync.Mutex
	chains map[string]*chainProgress
}

// chainProgress is one chain's: every event before next was read, and
// open counts the endpoints still to finish each event's notification.
// The mark is the last sequence number before which nothing is open.
type chainProgress struct {
	next  uint64
	open  map[uint64]int
	saved uint64
	// stored: saved is in the store (false until the first save when
	// the store had no mark).
	stored bool
}

func newProgress() *progress { return &progress{chains: map[string]*chainProgress{}} }

// chain returns chain's progress, new (from seq 1) if it was not started.
// p.mu is held.
func (p *progress) chain(name string) *chainProgress {
	c := p.chains[name]
	if c == nil {
		c = &chainProgress{next: 1, open: map[uint64]int{}}
		p.chains[name] = c
	}
	return c
}

// start sets where reading starts in chain; stored says whether the mark
// it comes from is in the store already.
func (p *progress) start(chain string, next uint64, stored bool) {
	p.mu.Lock()
	c := p.chain(chain)
	c.next, c.saved, c.stored = next, next-1, stored
	p.mu.Unlock()
}

// skip moves reading on to from (events before it are not sent).
func (p *progress) skip(chain string, from uint64) {
	p.mu.Lock()
	c := p.chain(chain)
	c.next = max(c.next, from)
	p.mu.Unlock()
}

// handled records that event seq of chain was read and taken by n
// endpoints.
func (p *progress) handled(chain string, seq uint64, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	c := p.chain(chain)
	if n > 0 {
		c.open[seq] += n
	}
	c.next = max(c.next, seq+1)
	p.mu.Unlock()
}

// done records that one endpoint is done with event seq of chain.
func (p *progress) done(chain string, seq uint64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	c := p.chain(chain)
	if c.open[seq]--; c.open[seq] <= 0 {
		delete(c.open, seq)
	}
	p.mu.Unlock()
}

// marks returns, for each chain whose mark moved since it was last saved,
// the sequence number up to which every notification is done.
func (p *progress) marks() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	moved := map[string]uint64{}
	for name, c := range p.chains {
		if c.next == 0 {
			continue
		}
		m := c.next - 1
		for seq := range c.open {
			m = min(m, seq-1)
		}
		if m > c.saved || !c.stored {
			moved[name] = m
		}
	}
	return moved
}

func (p *progress) setSaved(chain string, m uint64) {
	p.mu.Lock()
	c := p.chain(chain)
	c.saved = max(c.saved, m)
	c.stored = true
	p.mu.Unlock()
}

// markName is the store mark of chain's position: MarkName for the one
// chain of a single gate, MarkName/<chain> for a gate's chain on a
// shared store.
func markName(chain string) string {
	if chain == "" {
		return MarkName
	}
	return MarkName + "/" + chain
}

// keepMark saves the marks every markEvery while ctx lasts, and once more
// as it ends, each write fenced (see RunFenced). A store without marks
// keeps none.
func (n *Notifier) keepMark(ctx context.Context, st mpa.Store, fence func(mpa.Tx) error) {
	save := func(ctx context.Context) {
		moved := n.progress.marks()
		if len(moved) == 0 {
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
			for _, chain := range slices.Sorted(maps.Keys(moved)) {
				if err := mt.PutMark(markName(chain), moved[chain]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("webhook: could not save the position; a follower may send some notifications again", "marks", moved, "err", err)
			}
			return
		}
		for chain, m := range moved {
			n.progress.setSaved(chain, m)
		}
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
