package badgerstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// A Badger store has one writer process (the data-dir lock), so membership
// and leadership are held in memory: Join only refuses a gate_id already
// joined through this Store, and each election has one leader among this
// Store's callers.

type membership struct {
	s    *Store
	id   string
	once sync.Once
	done chan struct{}
}

func (m *membership) Done() <-chan struct{} { return m.done }

func (m *membership) Close() error {
	m.once.Do(func() {
		m.s.mu.Lock()
		delete(m.s.members, m.id)
		m.s.mu.Unlock()
		close(m.done)
	})
	return nil
}

// Join implements [mpa.Store].
func (s *Store) Join(ctx context.Context, gateID string) (mpa.Membership, error) {
	if gateID == "" {
		return nil, fmt.Errorf("join store %s: empty gate_id", s.name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.members[gateID]; ok {
		return nil, fmt.Errorf("join store %s as %s: %w", s.name, gateID, mpa.ErrGateIDInUse)
	}
	m := &membership{s: s, id: gateID, done: make(chan struct{})}
	s.members[gateID] = m
	go func() {
		select {
		case <-s.closed:
			m.Close()
		case <-m.done:
		}
	}()
	return m, nil
}

type leadership struct {
	sem  chan struct{}
	once sync.Once
	done chan struct{}
}

func (l *leadership) Done() <-chan struct{} { return l.done }

func (l *leadership) Fence(mpa.Tx) error {
	select {
	case <-l.done:
		return mpa.ErrNotLeader
	default:
		return nil
	}
}

func (l *leadership) Resign(context.Context) error {
	l.once.Do(func() {
		close(l.done)
		<-l.sem
	})
	return nil
}

// Campaign implements [mpa.Store]: it waits until no other caller of this
// Store leads election.
func (s *Store) Campaign(ctx context.Context, election, gateID string) (mpa.Leadership, error) {
	s.mu.Lock()
	sem, ok := s.elections[election]
	if !ok {
		sem = make(chan struct{}, 1)
		s.elections[election] = sem
	}
	s.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("campaign %s as %s: %w", election, gateID, ctx.Err())
	case <-s.closed:
		return nil, fmt.Errorf("campaign %s as %s: store %s is closed", election, gateID, s.name)
	}
	l := &leadership{sem: sem, done: make(chan struct{})}
	go func() {
		select {
		case <-s.closed:
			l.Resign(context.Background())
		case <-l.done:
		}
	}()
	return l, nil
}
