package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// prefixMark holds named positions (mpa.MarkTx). Changes does not follow
// it.
var prefixMark = []byte("mark/")

var _ mpa.MarkTx = (*tx)(nil)

func markKey(name string) []byte { return append(append([]byte{}, prefixMark...), name...) }

// GetMark implements mpa.MarkTx.
func (t *tx) GetMark(name string) (uint64, bool, error) {
	item, err := t.txn.Get(markKey(name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("get mark %s: %w", name, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return 0, false, fmt.Errorf("get mark %s: %w", name, err)
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("mark %s: %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// PutMark implements mpa.MarkTx.
func (t *tx) PutMark(name string, v uint64) error {
	if err := t.txn.Set(markKey(name), binary.BigEndian.AppendUint64(nil, v)); err != nil {
		return fmt.Errorf("put mark %s: %w", name, err)
	}
	return nil
}
