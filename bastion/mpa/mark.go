package mpa

// MarkTx is implemented by a [Tx] that keeps named positions: small
// counters a follower of the store persists so that whoever follows next
// (another gate, after a leader change, or this gate after a restart)
// resumes where it stopped. The webhook leader keeps the audit sequence
// number up to which every notification was sent. Marks are not part of
// the change feed and not audited: they say how far a reader got, not
// what happened.
type MarkTx interface {
	// GetMark returns the mark's value, and false if it was never set.
	GetMark(name string) (uint64, bool, error)
	// PutMark sets the mark.
	PutMark(name string, v uint64) error
}
