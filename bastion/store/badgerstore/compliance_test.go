package badgerstore_test

import (
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/storetest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// Badger has one handle per data dir (the dir lock), so the "second gate"
// is a second user of the same Store: the suite still checks conflicts
// between transactions, ordering and retention on real Badger.
func TestCompliance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) func() mpa.Store {
			st := mustOpen(t, badgerstore.Options{InMemory: true, Logger: logger(t)})
			t.Cleanup(func() { st.Close() })
			return func() mpa.Store { return st }
		},
	})
}
