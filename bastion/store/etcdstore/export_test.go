package etcdstore

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// interruptWatches ends every change feed's current watch and holds them
// from restarting until resume is called: a lost watch, as a broken
// connection or a member restart would cause.
func (s *Store) interruptWatches() (resume func()) {
	s.wmu.Lock()
	s.wcancel()
	s.wgen, s.wcancel = context.WithCancel(context.Background())
	paused := make(chan struct{})
	s.paused = paused
	s.wmu.Unlock()
	return func() {
		s.wmu.Lock()
		s.paused = nil
		s.wmu.Unlock()
		close(paused)
	}
}

// leaseOf returns the lease under a membership.
func leaseOf(m mpa.Membership) clientv3.LeaseID { return m.(*membership).lease }

// Sweep runs one retention sweep now.
func (s *Store) Sweep(ctx context.Context) (int, error) { return s.sweep(ctx) }
