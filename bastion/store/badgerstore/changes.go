package badgerstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/changefeed"
)

// subscribe starts the one Badger subscription the store fans out to its
// listeners, and waits until it is live: Badger's Subscribe registers
// inside a blocking call, so Open writes a ready key with a fresh nonce
// and waits to see it come back through the subscription.
func (s *Store) subscribe() error {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	s.readyNonce = hex.EncodeToString(nonce[:])
	s.ready = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSub = cancel
	matches := []pb.Match{
		{Prefix: prefixRequest}, {Prefix: prefixApprover}, {Prefix: prefixSettings},
		{Prefix: prefixAudit}, {Prefix: keyReady},
	}
	errc := make(chan error, 1)
	go func() {
		defer close(s.subDone)
		err := s.db.Subscribe(ctx, s.publish, matches)
		if err != nil && ctx.Err() == nil {
			s.log.Error("store change subscription ended", "err", err)
		}
		errc <- err
	}()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		// Badger may register the subscriber after this write; then the
		// write goes unseen and the next one (after a short wait) is seen.
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(keyReady, []byte(s.readyNonce))
		}); err != nil {
			cancel()
			return fmt.Errorf("start change subscription: %w", err)
		}
		retry := time.NewTimer(20 * time.Millisecond)
		select {
		case <-s.ready:
			retry.Stop()
			return nil
		case err := <-errc:
			retry.Stop()
			cancel()
			return fmt.Errorf("start change subscription: %w", err)
		case <-deadline.C:
			retry.Stop()
			cancel()
			return fmt.Errorf("start change subscription: timed out")
		case <-retry.C:
		}
	}
}

// publish decodes a batch of committed writes and queues them for every
// listener. It never blocks on a listener: Badger calls it on its
// publisher path, and a stuck reader must not stall commits.
func (s *Store) publish(kvs *badger.KVList) error {
	var changes []mpa.Change
	for _, kv := range kvs.Kv {
		if bytes.Equal(kv.Key, keyReady) {
			if string(kv.Value) == s.readyNonce {
				s.mu.Lock()
				select {
				case <-s.ready:
				default:
					close(s.ready)
				}
				s.mu.Unlock()
			}
			continue
		}
		if len(kv.Value) == 0 {
			continue // a delete; nothing to show
		}
		c, err := decodeChange(kv.Key, kv.Value)
		if err != nil {
			s.log.Error("store change undecodable", "key", string(kv.Key), "err", err)
			continue
		}
		c.Rev = kv.Version // the commit timestamp: shared by one transaction's writes
		changes = append(changes, c)
	}
	if len(changes) == 0 {
		return nil
	}
	changefeed.InOrder(changes)
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.Push(changes)
	}
	return nil
}

func decodeChange(key, value []byte) (mpa.Change, error) {
	switch {
	case bytes.HasPrefix(key, prefixRequest):
		var r mpa.Request
		err := json.Unmarshal(value, &r)
		return mpa.Change{Kind: mpa.ChangeRequest, Request: &r}, err
	case bytes.HasPrefix(key, prefixApprover):
		var a mpa.Approver
		err := json.Unmarshal(value, &a)
		return mpa.Change{Kind: mpa.ChangeApprover, Approver: &a}, err
	case bytes.HasPrefix(key, prefixSettings):
		var st mpa.Settings
		err := json.Unmarshal(value, &st)
		return mpa.Change{Kind: mpa.ChangeSettings, Settings: &st}, err
	case bytes.HasPrefix(key, prefixAudit):
		var e audit.Event
		err := json.Unmarshal(value, &e)
		return mpa.Change{Kind: mpa.ChangeAudit, Audit: &e}, err
	}
	return mpa.Change{}, fmt.Errorf("unexpected key")
}

// Changes implements [mpa.Store]. The subscription is registered before it
// returns; the channel is closed when ctx is done or the store closes.
func (s *Store) Changes(ctx context.Context) (<-chan mpa.Change, error) {
	select {
	case <-s.closed:
		return nil, fmt.Errorf("changes: store %s is closed", s.name)
	default:
	}
	l := changefeed.New()
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.listeners, l)
			s.mu.Unlock()
		}()
		l.Run(ctx, s.closed)
	}()
	return l.Out(), nil
}
