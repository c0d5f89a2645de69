package badgerstore

import "encoding/binary"

var (
	prefixRequest  = []byte("req/")
	prefixApprover = []byte("apr/")
	prefixSettings = []byte("set/")
	prefixAudit    = []byte("aud/")
	prefixLive     = []byte("live/")
	keySettings    = []byte("set/global")
	keyAuditHead   = []byte("meta/audit-head")
	// keyLiveIndex marks a store whose live/ index is complete (built at
	// Open for stores written before it existed).
	keyLiveIndex = []byte("meta/live-index")
	// keyReady is written at Open and watched for, to know that the
	// change subscription is live.
	keyReady = []byte("meta/ready")
)

// insertMarker is written by a transaction that adds a key under prefix
// and read by every scan of prefix (see tx.insert).
func insertMarker(prefix []byte) []byte {
	return append([]byte("meta/insert/"), prefix...)
}

func requestKey(id string) []byte    { return append(append([]byte{}, prefixRequest...), id...) }
func liveKey(id string) []byte       { return append(append([]byte{}, prefixLive...), id...) }
func approverKey(name string) []byte { return append(append([]byte{}, prefixApprover...), name...) }

// auditKey sorts events by sequence number.
func auditKey(seq uint64) []byte {
	k := append(make([]byte, 0, len(prefixAudit)+8), prefixAudit...)
	return binary.BigEndian.AppendUint64(k, seq)
}

// AuditKey is the raw Badger key of audit event seq, for tools (and tests)
// that inspect the database directly.
func AuditKey(seq uint64) []byte { return auditKey(seq) }
