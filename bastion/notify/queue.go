package notify

import (
	"context"
	"sync"
)

// queue is a bounded FIFO that never blocks its writer: when full, push
// drops the oldest item. One goroutine pops.
type queue struct {
	mu    sync.Mutex
	items []queued
	max   int
	wake  chan struct{} // a token when items may be waiting
}

// queued is a notification ready to send, its body encoded once.
type queued struct {
	n    Notification
	body []byte
	// done, if set, is told n.chain and n.seq once this endpoint is done
	// with it (delivered, given up or dropped), for the webhook mark.
	done func(chain string, seq uint64)
}

// finished tells done, if any, that this endpoint is done with it.
func (it queued) finished() {
	if it.done != nil && it.n.seq != 0 {
		it.done(it.n.chain, it.n.seq)
	}
}

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1)}
}

// push adds it and returns the older item dropped for it, if any.
func (q *queue) push(it queued) (dropped *queued) {
	q.mu.Lock()
	if len(q.items) >= q.max {
		old := q.items[0]
		dropped = &old
		q.items[0] = queued{} // let the dropped body be collected
		q.items = q.items[1:]
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// pop waits for the oldest item, or ctx.
func (q *queue) pop(ctx context.Context) (queued, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = queued{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return it, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return queued{}, false
		}
	}
}

// len is how many items wait.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
