package badgerstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// prefixOutput holds released commands' kept output (mpa.OutputTx), one
// value per request. It is not among the prefixes Changes follows: output
// is read on demand, never watched.
var prefixOutput = []byte("out/")

func outputKey(id string) []byte { return append(append([]byte{}, prefixOutput...), id...) }

var _ mpa.OutputTx = (*tx)(nil)

// PutOutput stores a request's output record as given (its bytes are what
// the audit trail hashed).
func (t *tx) PutOutput(id string, record []byte, ttl time.Duration) error {
	e := badger.NewEntry(outputKey(id), append([]byte(nil), record...))
	if ttl > 0 {
		e = e.WithTTL(ttl)
	}
	if err := t.txn.SetEntry(e); err != nil {
		return fmt.Errorf("put output of %s: %w", id, err)
	}
	return nil
}

// GetOutput returns a request's output record.
func (t *tx) GetOutput(id string) ([]byte, error) {
	item, err := t.txn.Get(outputKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("output of %s: %w", id, mpa.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get output of %s: %w", id, err)
	}
	return item.ValueCopy(nil)
}
