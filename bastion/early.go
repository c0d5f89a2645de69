package bastion

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/keyturn/keyturn/bastion/targets"
)

// earlySession is a target session channel being opened while the
// session's decision record commits, so that the channel-open round trip
// and the record's fsync overlap instead of queueing.
//
// Opening a channel runs nothing on the target: sshd starts no process
// and no shell until a pty-req, env, exec or shell request. The gate
// sends those only after the record returned (runOnTargetEarly is called
// after g.record succeeded), so "a decision not recorded does not run"
// holds. A session whose record fails abandons the channel: it is closed
// with no request ever sent on it (TestNoCommandBeforeItsRecord).
type earlySession struct {
	done chan struct{}
	ts   *targets.Session
	err  error
}

// openEarly starts opening a session on target.
func (g *Gate) openEarly(ctx context.Context, target string) *earlySession {
	e := &earlySession{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.ts, e.err = g.targets.NewSession(ctx, target)
	}()
	return e
}

// earlyWaited, if set (by benchmarks only), is told how long each
// session waited for its early channel after its record had committed:
// zero when the open was hidden under the commit, which is when a spare
// pre-opened channel would save nothing.
var earlyWaited atomic.Pointer[func(time.Duration)]

// wait returns the session once it is open (or why it is not).
func (e *earlySession) wait() (*targets.Session, error) {
	if f := earlyWaited.Load(); f != nil {
		select {
		case <-e.done:
			(*f)(0)
		default:
			t0 := time.Now()
			<-e.done
			(*f)(time.Since(t0))
		}
	}
	<-e.done
	return e.ts, e.err
}

// abandon closes the channel, unused, once it is open; nil does nothing.
// It does not wait: the record's failure is reported to the client now.
func (e *earlySession) abandon() {
	if e == nil {
		return
	}
	go func() {
		if ts, err := e.wait(); err == nil {
			ts.Close()
		}
	}()
}
