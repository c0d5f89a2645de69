package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// membership is a gate's member key on its own lease, kept alive until
// Close. When the keepalive stream ends without an answer from etcd for a
// lease's TTL (etcd unreachable, or without a quorum), the membership is
// not given up at once: the gate cannot record anything meanwhile, so it
// runs nothing (fail closed). Once etcd answers again, the lease decides:
// alive (etcd resets lease timers when a new leader is elected, so a lost
// and regained quorum keeps every lease) and still holding the member key,
// the gate carries on by itself; expired (this gate alone was cut off
// past its TTL, and other gates may have marked its runs interrupted),
// the membership ends and the gate stops serving.
type membership struct {
	s      *Store
	key    string
	lease  clientv3.LeaseID
	done   chan struct{}
	cancel context.CancelFunc
	ended  sync.WaitGroup
}

func (m *membership) Done() <-chan struct{} { return m.done }

// Close revokes the lease, which deletes the member key at once.
func (m *membership) Close() error {
	m.cancel()
	m.ended.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.s.cli.Revoke(ctx, m.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("leave %s: %w", m.key, err)
	}
	return nil
}

// keep keeps the lease alive until ctx ends or the lease is gone.
func (m *membership) keep(ctx context.Context) {
	defer close(m.done)
	for ctx.Err() == nil {
		ch, err := m.s.cli.KeepAlive(ctx, m.lease)
		if err == nil {
			for range ch { // drained until the stream ends
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !m.stillHeld(ctx) {
			return
		}
	}
}

// stillHeld waits until etcd answers and reports whether the lease is
// alive and still holds the member key.
func (m *membership) stillHeld(ctx context.Context) bool {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 2*time.Second)
		ttl, err := m.s.cli.TimeToLive(qctx, m.lease)
		var resp *clientv3.GetResponse
		if err == nil && ttl.TTL > 0 {
			resp, err = m.s.cli.Get(qctx, m.key)
		}
		cancel()
		switch {
		case err != nil:
			m.s.log.Warn("etcd unreachable; membership unconfirmed, nothing is recorded meanwhile", "key", m.key, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		case ttl.TTL <= 0:
			m.s.log.Error("membership lease expired", "key", m.key)
			return false
		case len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != m.lease:
			m.s.log.Error("member key gone or taken over", "key", m.key)
			return false
		}
		m.s.log.Info("membership confirmed; lease kept", "key", m.key)
		return true
	}
	return false
}

// Join implements [mpa.Store]: it creates members/<gateID> on a new lease,
// only if no live gate holds that key.
func (s *Store) Join(ctx context.Context, gateID string) (mpa.Membership, error) {
	if gateID == "" {
		return nil, fmt.Errorf("join etcd store %s: empty gate_id", s.prefix)
	}
	grant, err := s.cli.Grant(ctx, int64(s.ttl))
	if err != nil {
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, err)
	}
	revoke := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.cli.Revoke(rctx, grant.ID)
		cancel()
	}
	key := s.prefix + pMembers + gateID
	host, _ := os.Hostname()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, fmt.Sprintf(`{"host":%q,"pid":%d}`, host, os.Getpid()), clientv3.WithLease(grant.ID))).
		Commit()
	if err != nil {
		revoke()
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, err)
	}
	if !resp.Succeeded {
		revoke()
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, mpa.ErrGateIDInUse)
	}
	kctx, cancel := context.WithCancel(context.Background())
	m := &membership{s: s, key: key, lease: grant.ID, done: make(chan struct{}), cancel: cancel}
	m.ended.Add(1)
	go func() {
		defer m.ended.Done()
		m.keep(kctx)
	}()
	return m, nil
}

type leadership struct {
	s      *Store
	sess   *concurrency.Session
	el     *concurrency.Election
	gateID string
	once   sync.Once
	done   chan struct{}
}

func (l *leadership) Done() <-chan struct{} { return l.done }

// Fence reads the leader key inside tx: the commit then compares its mod
// revision, so it fails if the key was deleted (resigned, lease lost) or
// replaced meanwhile; and a term already over fails here.
func (l *leadership) Fence(t mpa.Tx) error {
	et, ok := t.(*tx)
	if !ok || et.s != l.s {
		return fmt.Errorf("fence: transaction of another store")
	}
	select {
	case <-l.done:
		return mpa.ErrNotLeader
	default:
	}
	b, err := et.get(l.el.Key()[len(l.s.prefix):])
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if string(b) != l.gateID {
		return mpa.ErrNotLeader
	}
	return nil
}

func (l *leadership) Resign(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.el.Resign(ctx)
		if cerr := l.sess.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// Campaign implements [mpa.Store] with etcd's election on a session of
// its own, so that resigning one election leaves the gate's membership.
func (s *Store) Campaign(ctx context.Context, election, gateID string) (mpa.Leadership, error) {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(s.ttl), concurrency.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("campaign %s as %s: %w", election, gateID, err)
	}
	el := concurrency.NewElection(sess, s.prefix+pElect+election)
	if err := el.Campaign(ctx, gateID); err != nil {
		sess.Close()
		return nil, fmt.Errorf("campaign %s as %s: %w", election, gateID, err)
	}
	l := &leadership{s: s, sess: sess, el: el, gateID: gateID, done: make(chan struct{})}
	go func() {
		select {
		case <-sess.Done():
			l.once.Do(func() { close(l.done) })
		case <-l.done:
		}
	}()
	return l, nil
}
