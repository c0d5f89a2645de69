package mpa

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Sequencer group-commits audit records: records handed to it by
// concurrent callers are appended to the chain together, in one
// transaction (one fsync with Badger, one Txn with etcd), in the order
// they arrived. Each caller returns only when the transaction holding its
// record has committed, so "not recorded, not run" holds as with one
// transaction per record; N concurrent sessions pay one commit instead of
// N commits in a row.
//
// A caller that finds the sequencer idle commits the first batch itself,
// on its own goroutine: a lone session (the common case at low load)
// then pays no handoff to another goroutine and back, each of which is a
// wait for a CPU on a loaded machine. Records that arrive while a batch
// commits are committed by a goroutine that runs while records are
// queued, each batch as the previous one returns; none runs while the
// sequencer is idle.
//
// It only needs a Store, so it works the same on every backend.
type Sequencer struct {
	commit  func(ctx context.Context, fn func(Tx) error) error
	max     int
	timeout time.Duration

	// handoff makes every batch go through the draining goroutine, as
	// before callers committed the first batch themselves (for the
	// benchmark's comparison).
	handoff bool

	mu      sync.Mutex
	queue   []*pendingRecord
	busy    bool
	commits int // transactions sent, for the benchmark's records/commit
}

type pendingRecord struct {
	ctx  context.Context
	e    audit.Event
	out  audit.Event
	err  error
	done chan struct{}
}

// DefaultBatch is the most records a Sequencer puts in one transaction:
// with the head record, 101 writes, within etcd's default of 128 per
// transaction.
const DefaultBatch = 100

// BatchTimeout bounds one batch's transaction, retries included.
const BatchTimeout = 10 * time.Second

// NewSequencer returns a sequencer over st with batches of at most max
// records (DefaultBatch if max <= 0).
func NewSequencer(st Store, max int) *Sequencer {
	return newSequencer(st.Update, max)
}

func newSequencer(commit func(context.Context, func(Tx) error) error, max int) *Sequencer {
	if max <= 0 {
		max = DefaultBatch
	}
	return &Sequencer{commit: commit, max: max, timeout: BatchTimeout}
}

// Record appends e to the audit chain and returns it sealed once the
// transaction holding it has committed. An error means it may not be
// recorded: the caller must act as if it was not (a command whose
// decision it records must not run). If ctx ends first, Record returns
// ctx's error; the record may still be committed, and the caller must
// still not act on it. (A caller that commits its batch itself returns
// once that transaction has, within BatchTimeout, ctx or not: what it
// returns is then that transaction's outcome.)
func (q *Sequencer) Record(ctx context.Context, e audit.Event) (audit.Event, error) {
	// An event that cannot be sealed would fail everyone's batch: refuse
	// it here, alone. (Data that is not JSON is the one way Seal fails.)
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return audit.Event{}, fmt.Errorf("record audit %s: data is not valid JSON", e.Kind)
	}
	p := &pendingRecord{ctx: ctx, e: e, done: make(chan struct{})}
	q.mu.Lock()
	q.queue = append(q.queue, p)
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if lead {
		if q.handoff {
			go q.drain()
		} else {
			// p is first in the queue, so in this batch: when
			// commitBatch returns, p.done is closed.
			q.commitNext()
			q.mu.Lock()
			more := len(q.queue) > 0
			if !more {
				q.busy = false
			}
			q.mu.Unlock()
			if more {
				go q.drain()
			}
		}
	}
	select {
	case <-p.done:
		return p.out, p.err
	case <-ctx.Done():
		return audit.Event{}, fmt.Errorf("record audit %s: %w (it may still be recorded)", e.Kind, ctx.Err())
	}
}

// drain commits batches until the queue is empty.
func (q *Sequencer) drain() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.commitNext()
	}
}

// commitNext commits the batch at the head of the queue, which is not
// empty; the caller is the one committer (busy is set).
func (q *Sequencer) commitNext() {
	q.mu.Lock()
	q.commits++
	n := min(len(q.queue), q.max)
	batch := q.queue[:n:n]
	q.queue = q.queue[n:]
	q.mu.Unlock()
	q.commitBatch(batch)
}

// commitBatch appends the batch's live records in one transaction and
// tells each its outcome.
func (q *Sequencer) commitBatch(batch []*pendingRecord) {
	live := batch[:0:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.err = fmt.Errorf("record audit %s: %w", p.e.Kind, err)
			close(p.done)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	// The batch is committed for all its callers: no one caller's
	// cancellation may abort it for the others. It is bounded on its own,
	// so that a store that stopped answering (etcd without quorum) fails
	// the batch, and the queue behind it, instead of holding them forever.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), q.timeout)
	defer cancel()
	err := q.commit(ctx, func(tx Tx) error {
		for _, p := range live {
			out, err := tx.AppendAudit(p.e)
			if err != nil {
				return err
			}
			p.out = out
		}
		return nil
	})
	for _, p := range live {
		if err != nil {
			p.out, p.err = audit.Event{}, fmt.Errorf("record audit %s: %w", p.e.Kind, err)
		}
		close(p.done)
	}
}
