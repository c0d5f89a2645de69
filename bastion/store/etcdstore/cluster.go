package etcdstore

import (
	"context"
	"fmt"
	"os"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/keyturn/keyturn/bastion/mpa"
)

type membership struct {
	sess *concurrency.Session
	key  string
}

func (m *membership) Done() <-chan struct{} { return m.sess.Done() }

// Close revokes the lease, which deletes the member key at once.
func (m *membership) Close() error {
	if err := m.sess.Close(); err != nil {
		return fmt.Errorf("leave %s: %w", m.key, err)
	}
	return nil
}

// Join implements [mpa.Store]: it creates members/<gateID> on a new lease,
// only if no live gate holds that key.
func (s *Store) Join(ctx context.Context, gateID string) (mpa.Membership, error) {
	if gateID == "" {
		return nil, fmt.Errorf("join etcd store %s: empty gate_id", s.prefix)
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(s.ttl), concurrency.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, err)
	}
	key := s.prefix + pMembers + gateID
	host, _ := os.Hostname()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, fmt.Sprintf(`{"host":%q,"pid":%d}`, host, os.Getpid()), clientv3.WithLease(sess.Lease()))).
		Commit()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, err)
	}
	if !resp.Succeeded {
		sess.Close()
		return nil, fmt.Errorf("join etcd store %s as %s: %w", s.prefix, gateID, mpa.ErrGateIDInUse)
	}
	return &membership{sess: sess, key: key}, nil
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
