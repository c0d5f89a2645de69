package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Store) sweepLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		n, err := s.sweep(ctx)
		cancel()
		if err != nil {
			s.log.Warn("etcd retention sweep failed; retried next round", "err", err)
		} else if n > 0 {
			s.log.Debug("etcd retention sweep", "deleted", n)
		}
	}
}

// sweep deletes the requests past their retention, with their kept output. Each delete is its
// own transaction, conditional on the record being unchanged, and bumps
// the deletion marker that scans read. Gates sweeping at once delete each
// record once; the others' compares fail harmlessly.
func (s *Store) sweep(ctx context.Context) (int, error) {
	full := s.prefix + pRequest
	end := clientv3.GetPrefixRangeEnd(full)
	key := full
	now := s.now()
	n := 0
	for {
		resp, err := s.cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
		if err != nil {
			return n, err
		}
		for _, kv := range resp.Kvs {
			var sr storedRequest
			if json.Unmarshal(kv.Value, &sr) != nil || sr.Expires.IsZero() || now.Before(sr.Expires) {
				continue
			}
			r, err := s.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
				Then(clientv3.OpDelete(string(kv.Key)), clientv3.OpPut(s.prefix+pDeleted+pRequest, sr.Request.ID),
					// Its kept output goes with it (it has the same retention).
					clientv3.OpDelete(s.prefix+pOutput+sr.Request.ID)).
				Commit()
			if err != nil {
				return n, err
			}
			if r.Succeeded {
				n++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n, nil
		}
		key = string(append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0))
	}
}
