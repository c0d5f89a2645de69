package badgerstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// tx is an [mpa.Tx] over one Badger transaction.
type tx struct {
	txn *badger.Txn
	s   *Store
}

// get decodes the value at key into v; what names the record in errors.
func (t *tx) get(key []byte, what string, v any) error {
	item, err := t.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%s: %w", what, mpa.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", what, err)
	}
	if err := item.Value(func(b []byte) error { return json.Unmarshal(b, v) }); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

func (t *tx) put(key []byte, what string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	e := badger.NewEntry(key, b)
	if ttl > 0 {
		e = e.WithTTL(ttl)
	}
	if err := t.txn.SetEntry(e); err != nil {
		return fmt.Errorf("put %s: %w", what, err)
	}
	return nil
}

// insert writes a record that may be new under prefix. Badger detects
// conflicts on the keys a transaction read, so a scan alone would not
// conflict with a key inserted under its prefix after it started (a
// phantom: two gates each find no pending disable_mpa request and both
// create one). A new key therefore also writes the prefix's insert
// marker, which every scan reads.
func (t *tx) insert(prefix, key []byte, what string, v any, ttl time.Duration) error {
	_, err := t.txn.Get(key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		if err := t.txn.Set(insertMarker(prefix), []byte{1}); err != nil {
			return fmt.Errorf("put %s: %w", what, err)
		}
	case err != nil:
		return fmt.Errorf("put %s: %w", what, err)
	}
	return t.put(key, what, v, ttl)
}

// scan yields each value under prefix (from start) decoded as T.
func scan[T any](t *tx, prefix, start []byte) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		// Read the insert marker, so an insert under prefix committed
		// after this transaction started conflicts with it.
		if _, err := t.txn.Get(insertMarker(prefix)); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			var zero T
			yield(zero, fmt.Errorf("scan %s: %w", prefix, err))
			return
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := t.txn.NewIterator(opts)
		defer it.Close()
		if start == nil {
			start = prefix
		}
		for it.Seek(start); it.Valid(); it.Next() {
			var v T
			item := it.Item()
			err := item.Value(func(b []byte) error { return json.Unmarshal(b, &v) })
			if err != nil {
				err = fmt.Errorf("decode %q: %w", item.Key(), err)
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

func (t *tx) GetRequest(id string) (mpa.Request, error) {
	var r mpa.Request
	err := t.get(requestKey(id), "request "+id, &r)
	return r, err
}

func (t *tx) PutRequest(r mpa.Request, ttl time.Duration) error {
	if err := t.insert(prefixRequest, requestKey(r.ID), "request "+r.ID, r, ttl); err != nil {
		return err
	}
	return t.indexLive(r)
}

// indexLive keeps live/<id> present exactly while r is live.
func (t *tx) indexLive(r mpa.Request) error {
	if r.Status.Final() {
		if err := t.txn.Delete(liveKey(r.ID)); err != nil {
			return fmt.Errorf("unindex request %s: %w", r.ID, err)
		}
		return nil
	}
	return t.insert(prefixLive, liveKey(r.ID), "live index of "+r.ID, true, 0)
}

func (t *tx) LiveRequests() iter.Seq2[mpa.Request, error] {
	return func(yield func(mpa.Request, error) bool) {
		for id, err := range scanKeys(t, prefixLive) {
			var r mpa.Request
			if err == nil {
				r, err = t.GetRequest(id)
				if errors.Is(err, mpa.ErrNotFound) {
					continue
				}
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// scanKeys yields the rest of each key under prefix, reading the insert
// marker as scan does.
func scanKeys(t *tx, prefix []byte) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if _, err := t.txn.Get(insertMarker(prefix)); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			yield("", fmt.Errorf("scan %s: %w", prefix, err))
			return
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchValues = false
		it := t.txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.Valid(); it.Next() {
			if !yield(string(it.Item().Key()[len(prefix):]), nil) {
				return
			}
		}
	}
}

func (t *tx) Requests() iter.Seq2[mpa.Request, error] {
	return scan[mpa.Request](t, prefixRequest, nil)
}

func (t *tx) GetApprover(name string) (mpa.Approver, error) {
	var a mpa.Approver
	err := t.get(approverKey(name), "approver "+name, &a)
	return a, err
}

func (t *tx) PutApprover(a mpa.Approver) error {
	return t.insert(prefixApprover, approverKey(a.Name), "approver "+a.Name, a, 0)
}

func (t *tx) Approvers() iter.Seq2[mpa.Approver, error] {
	return scan[mpa.Approver](t, prefixApprover, nil)
}

func (t *tx) GetSettings() (mpa.Settings, error) {
	var st mpa.Settings
	err := t.get(keySettings, "settings", &st)
	if errors.Is(err, mpa.ErrNotFound) {
		return mpa.Settings{}, nil
	}
	return st, err
}

func (t *tx) PutSettings(st mpa.Settings) error {
	return t.put(keySettings, "settings", st, 0)
}

// A Badger store has one process and one chain, named "": its keys and
// events are as they were before chains had names.

// AuditChain is "": the one chain.
func (t *tx) AuditChain() string { return "" }

// AuditHead reads the head record. Reading it in every appending
// transaction is what serialises appends: two transactions that append
// conflict on this key, and the loser is retried on the new head. A
// named chain has no events here.
func (t *tx) AuditHead(chain string) (audit.Head, error) {
	if chain != "" {
		return audit.Head{}, nil
	}
	var h audit.Head
	err := t.get(keyAuditHead, "audit head", &h)
	if errors.Is(err, mpa.ErrNotFound) {
		return audit.Head{}, nil
	}
	return h, err
}

// AuditChains returns the one chain's head, if it has events.
func (t *tx) AuditChains() (map[string]audit.Head, error) {
	h, err := t.AuditHead("")
	if err != nil || h.Seq == 0 {
		return map[string]audit.Head{}, err
	}
	return map[string]audit.Head{"": h}, nil
}

func (t *tx) AppendAudit(e audit.Event) (audit.Event, error) {
	head, err := t.AuditHead("")
	if err != nil {
		return audit.Event{}, err
	}
	e.Chain = ""
	sealed, err := audit.Seal(head, e)
	if err != nil {
		return audit.Event{}, err
	}
	what := fmt.Sprintf("audit event %d", sealed.Seq)
	if err := t.put(auditKey(sealed.Seq), what, sealed, 0); err != nil {
		return audit.Event{}, err
	}
	if err := t.put(keyAuditHead, "audit head", audit.Head{Seq: sealed.Seq, Hash: sealed.Hash}, 0); err != nil {
		return audit.Event{}, err
	}
	return sealed, nil
}

func (t *tx) AuditEvents(chain string, from uint64) iter.Seq2[audit.Event, error] {
	if chain != "" {
		return func(func(audit.Event, error) bool) {}
	}
	return scan[audit.Event](t, prefixAudit, auditKey(from))
}

// GateLive reports whether gateID joined through this Store: a Badger
// store has one process, so no other gate is ever live.
func (t *tx) GateLive(gateID string) (bool, error) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	_, ok := t.s.members[gateID]
	return ok, nil
}

// LiveGates lists the gates joined through this Store (none for a tool
// that opened the data dir offline).
func (t *tx) LiveGates() ([]string, error) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	ids := make([]string, 0, len(t.s.members))
	for id := range t.s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
