package etcdstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// pOutput holds released commands' kept output (mpa.OutputTx), one value
// per request: 8 bytes of expiry (Unix nanoseconds, 0 for none) then the
// record as the audit trail hashed it. Raw bytes rather than JSON keep a
// 1 MiB record, with the request and audit event written beside it,
// inside etcd's request size limit. The value is not followed by Changes:
// output is read on demand, never watched. The retention sweep deletes it
// with its request.
const pOutput = "out/"

var _ mpa.OutputTx = (*tx)(nil)

// PutOutput stores a request's output record as given.
func (t *tx) PutOutput(id string, record []byte, ttl time.Duration) error {
	v := make([]byte, 8, 8+len(record))
	if ttl > 0 {
		binary.BigEndian.PutUint64(v, uint64(t.s.now().Add(ttl).UnixNano()))
	}
	v = append(v, record...)
	if err := t.set(pOutput+id, v); err != nil {
		return fmt.Errorf("put output of %s: %w", id, err)
	}
	return nil
}

// GetOutput returns a request's output record, or mpa.ErrNotFound if there
// is none or it is past its retention.
func (t *tx) GetOutput(id string) ([]byte, error) {
	v, err := t.get(pOutput + id)
	if err != nil {
		return nil, fmt.Errorf("get output of %s: %w", id, err)
	}
	if v == nil {
		return nil, fmt.Errorf("output of %s: %w", id, mpa.ErrNotFound)
	}
	if len(v) < 8 {
		return nil, fmt.Errorf("output of %s: a record of %d bytes has no expiry header", id, len(v))
	}
	if exp := int64(binary.BigEndian.Uint64(v[:8])); exp != 0 && !t.s.now().Before(time.Unix(0, exp)) {
		return nil, fmt.Errorf("output of %s: %w", id, mpa.ErrNotFound)
	}
	return append([]byte(nil), v[8:]...), nil
}
