package etcdstore

import (
	"fmt"
	"strconv"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// pMark holds named positions (mpa.MarkTx); the change feed skips it.
const pMark = "meta/mark/"

var _ mpa.MarkTx = (*tx)(nil)

// GetMark implements mpa.MarkTx.
func (t *tx) GetMark(name string) (uint64, bool, error) {
	b, err := t.get(pMark + name)
	if err != nil {
		return 0, false, err
	}
	if b == nil {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("mark %s: %w", name, err)
	}
	return v, true, nil
}

// PutMark implements mpa.MarkTx.
func (t *tx) PutMark(name string, v uint64) error {
	if err := t.set(pMark+name, []byte(strconv.FormatUint(v, 10))); err != nil {
		return fmt.Errorf("put mark %s: %w", name, err)
	}
	return nil
}
