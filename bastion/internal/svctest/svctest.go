package svctest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// Start is the test clock's first instant.
var Start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Fixture is a real Service on an in-memory Badger store, on a test clock.
type Fixture struct {
	T       *testing.T
	Log     *slog.Logger
	Clock   *mpatest.Clock
	Store   *badgerstore.Store
	Svc     *mpa.Service
	Secrets map[string]string // each approver's TOTP secret
}

// New opens the store, builds the Service as node gate-1 and registers
// each of approvers with an oathtool code. The store closes when the test
// ends, after the cleanups registered later (those that stop what follows
// it).
func New(t *testing.T, approvers ...string) *Fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := mpatest.NewClock(Start)
	f := &Fixture{T: t, Log: log, Clock: clock, Store: st,
		Svc:     mpa.New(st, mpa.Options{Now: clock.Now, Logger: log, Node: "gate-1"}),
		Secrets: map[string]string{}}
	for _, name := range approvers {
		f.Secrets[name] = mpatest.Register(t, t.Context(), f.Svc, name, clock.Now())
	}
	return f
}

// Code returns a fresh code for approver name, one TOTP step on.
func (f *Fixture) Code(name string) string {
	f.Clock.Advance(30 * time.Second)
	return mpatest.Oathtool(f.T, f.Secrets[name], f.Clock.Now())
}
