package server

import (
	"context"
	"sync"
	"time"
)

// loops owns the server's long-lived goroutines. They start in layers,
// each layer on its own context, and stop in reverse: a layer is
// cancelled and waited for before the one started before it, so a loop
// never outlives what it reads (the observers stop before the request
// loops, those before the policy controller, all before the store
// closes).
type loops struct {
	layers []layer
}

type layer struct {
	cancel context.CancelFunc
	wg     *sync.WaitGroup
}

// start runs fns as one layer on a context derived from parent.
func (ls *loops) start(parent context.Context, fns ...func(context.Context)) {
	ctx, cancel := context.WithCancel(parent)
	l := layer{cancel: cancel, wg: &sync.WaitGroup{}}
	for _, f := range fns {
		l.wg.Go(func() { f(ctx) })
	}
	ls.layers = append(ls.layers, l)
}

// stop cancels and waits for each layer, the last started first. It may
// be called again; it then has nothing left to do.
func (ls *loops) stop() {
	for i := len(ls.layers) - 1; i >= 0; i-- {
		ls.layers[i].cancel()
		ls.layers[i].wg.Wait()
	}
	ls.layers = nil
}

// every calls f each interval until ctx is done: the shape of the
// server's periodic loops (looking for gone gates, repeating the
// approval-off warning).
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
