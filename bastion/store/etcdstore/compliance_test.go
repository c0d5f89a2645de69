package etcdstore

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/storetest"
)

// The suite on a real embedded etcd, each handle on its own client: two
// gates sharing one store.
func TestCompliance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) func() mpa.Store {
			prefix := freshPrefix()
			return func() mpa.Store { return openOn(t, prefix, Options{}) }
		},
		OpenGate: func(t *testing.T) func(string) mpa.Store {
			prefix := freshPrefix()
			return func(gate string) mpa.Store { return openOn(t, prefix, Options{Chain: gate}) }
		},
		Gap: func(t *testing.T, st mpa.Store, during func(compact func())) {
			s := st.(*Store)
			resume := s.interruptWatches()
			defer resume()
			during(func() { compact(t, s) })
		},
		LoseLease: func(t *testing.T, st mpa.Store, m mpa.Membership) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Revoked from another client: the holder only learns it from
			// its keep-alives failing, as after an expiry.
			if _, err := newClient(t).Revoke(ctx, leaseOf(m)); err != nil {
				t.Fatal(err)
			}
		},
	})
}
