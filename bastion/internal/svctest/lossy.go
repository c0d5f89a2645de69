package svctest

import (
	"context"
	"sync"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// LossyStore is a real store whose change feed can lose changes, as an
// etcd watch does when it breaks and the history it needed was compacted;
// it then sends a ChangeResync before the next change, as the Store
// contract requires.
type LossyStore struct {
	mpa.Store
	mu         sync.Mutex
	drop, lost bool
}

// SetDrop starts (true) or stops (false) losing changes.
func (s *LossyStore) SetDrop(v bool) {
	s.mu.Lock()
	s.drop = v
	s.mu.Unlock()
}

// Changes is the wrapped store's feed less the changes sent while SetDrop
// was on; the first change after them comes after a ChangeResync.
func (s *LossyStore) Changes(ctx context.Context) (<-chan mpa.Change, error) {
	in, err := s.Store.Changes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan mpa.Change)
	go func() {
		defer close(out)
		for c := range in {
			s.mu.Lock()
			drop, lost := s.drop, s.lost
			s.lost = drop
			s.mu.Unlock()
			if drop {
				continue
			}
			cs := []mpa.Change{c}
			if lost {
				cs = []mpa.Change{{Kind: mpa.ChangeResync, Rev: c.Rev}, c}
			}
			for _, c := range cs {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
