package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/changefeed"
)

// Changes implements [mpa.Store]. It reads the current revision and
// watches from the one after it, so every commit after Changes returns is
// delivered. A watch that ends (a lost connection, a member restart) is
// resumed after the last revision delivered; if that history was compacted
// meanwhile, the feed sends [mpa.ChangeResync] and resumes from now.
func (s *Store) Changes(ctx context.Context) (<-chan mpa.Change, error) {
	select {
	case <-s.closed:
		return nil, fmt.Errorf("changes: etcd store %s is closed", s.prefix)
	default:
	}
	resp, err := s.cli.Get(ctx, s.prefix+headKey(s.chain))
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	l := changefeed.New()
	ctx, cancel := context.WithCancel(ctx)
	go func() { // the feed ends with the store
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.bg.Go(func() {
		defer cancel()
		s.follow(ctx, l, resp.Header.Revision+1)
	})
	go l.Run(ctx, nil)
	return l.Out(), nil
}

// watchGen returns the context watches start under now, after waiting
// while a test holds watches paused.
func (s *Store) watchGen(ctx context.Context) (context.Context, error) {
	for {
		s.wmu.Lock()
		gen, paused := s.wgen, s.paused
		s.wmu.Unlock()
		if paused == nil {
			return gen, nil
		}
		select {
		case <-paused:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// follow watches from revision next until ctx is done, pushing decoded
// changes to l.
func (s *Store) follow(ctx context.Context, l *changefeed.Queue, next int64) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 { // etcd unreachable or without a leader: do not spin
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		gen, err := s.watchGen(ctx)
		if err != nil {
			return
		}
		wctx, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
		unhook := context.AfterFunc(gen, stop)
		compacted := false
		for wr := range s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(next)) {
			if wr.CompactRevision != 0 || errors.Is(wr.Err(), rpctypes.ErrCompacted) {
				compacted = true
				break
			}
			if err := wr.Err(); err != nil {
				s.log.Warn("etcd watch ended; resuming", "prefix", s.prefix, "next", next, "err", err)
				break
			}
			backoff = 0
			var batch []mpa.Change
			for _, ev := range wr.Events {
				if c, ok := s.decodeEvent(ev); ok {
					batch = append(batch, c)
				}
				next = ev.Kv.ModRevision + 1
			}
			if len(batch) > 0 {
				changefeed.InOrder(batch)
				l.Push(batch)
			}
		}
		unhook()
		stop()
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		if compacted {
			resp, err := s.cli.Get(ctx, s.prefix+headKey(s.chain))
			if err != nil {
				s.log.Warn("etcd watch: cannot read the revision after a compaction; retrying", "err", err)
				continue
			}
			s.log.Warn("etcd watch lost changes to compaction; readers resync", "prefix", s.prefix, "from", next, "now", resp.Header.Revision)
			next = resp.Header.Revision + 1
			l.Push([]mpa.Change{{Kind: mpa.ChangeResync, Rev: uint64(resp.Header.Revision)}})
		}
	}
}

// decodeEvent turns a put under the prefix into a Change; deletes and
// bookkeeping keys are none. Approvers' sealed secrets are left out.
func (s *Store) decodeEvent(ev *clientv3.Event) (mpa.Change, bool) {
	if ev.Type != mvccpb.PUT {
		return mpa.Change{}, false
	}
	key := strings.TrimPrefix(string(ev.Kv.Key), s.prefix)
	rev := uint64(ev.Kv.ModRevision)
	var c mpa.Change
	var err error
	switch {
	case strings.HasPrefix(key, pRequest):
		var sr storedRequest
		err = json.Unmarshal(ev.Kv.Value, &sr)
		c = mpa.Change{Kind: mpa.ChangeRequest, Request: &sr.Request}
	case strings.HasPrefix(key, pApprover):
		var a mpa.Approver
		err = json.Unmarshal(ev.Kv.Value, &a)
		a.Secret, a.PendingSecret = "", ""
		c = mpa.Change{Kind: mpa.ChangeApprover, Approver: &a}
	case strings.HasPrefix(key, pSettings):
		var st mpa.Settings
		err = json.Unmarshal(ev.Kv.Value, &st)
		c = mpa.Change{Kind: mpa.ChangeSettings, Settings: &st}
	case strings.HasPrefix(key, pAudit):
		var e audit.Event
		err = json.Unmarshal(ev.Kv.Value, &e)
		c = mpa.Change{Kind: mpa.ChangeAudit, Audit: &e}
	default:
		return mpa.Change{}, false
	}
	if err != nil {
		s.log.Error("etcd change undecodable", "key", string(ev.Kv.Key), "err", err)
		return mpa.Change{}, false
	}
	c.Rev = rev
	return c, true
}
