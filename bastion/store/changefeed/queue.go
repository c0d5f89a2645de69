package changefeed

import (
	"context"
	"sync"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Queue is one Changes subscriber: Push never blocks, Run hands the queued
// changes to Out in order. Make one with [New].
type Queue struct {
	mu   sync.Mutex
	q    []mpa.Change
	wake chan struct{}
	out  chan mpa.Change
}

// New returns an empty queue.
func New() *Queue {
	return &Queue{wake: make(chan struct{}, 1), out: make(chan mpa.Change)}
}

// Out is the subscriber's channel. It is closed when Run returns.
func (l *Queue) Out() <-chan mpa.Change { return l.out }

// Push queues cs for the subscriber without waiting for it. Safe to call
// from any goroutine.
func (l *Queue) Push(cs []mpa.Change) {
	l.mu.Lock()
	l.q = append(l.q, cs...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run delivers queued changes to Out until ctx is done or stop is closed
// (a nil stop never is), then closes Out. What is still queued then is
// dropped: the subscriber has gone, or the store has closed.
func (l *Queue) Run(ctx context.Context, stop <-chan struct{}) {
	defer close(l.out)
	for {
		l.mu.Lock()
		q := l.q
		l.q = nil
		l.mu.Unlock()
		for _, c := range q {
			select {
			case l.out <- c:
			case <-ctx.Done():
				return
			case <-stop:
				return
			}
		}
		select {
		case <-l.wake:
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
	}
}
