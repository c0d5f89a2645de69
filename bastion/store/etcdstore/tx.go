package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// errConflict means the commit's compares failed (or the snapshot was
// compacted): Update runs fn again.
var errConflict = errors.New("etcdstore: conflict")

const (
	pRequest  = "req/"
	pApprover = "apr/"
	pSettings = "set/"
	pAudit    = "aud/"
	pLive     = "live/"
	kSettings = "set/global"
	pHeads    = "meta/audit-heads/"
	pDeleted  = "meta/deleted/"
	pMembers  = "members/"
	pElect    = "elect/"
)

// Each chain has its events under aud/<chain>/ and its head record at
// meta/audit-heads/<chain>.
func auditKey(chain string, seq uint64) string {
	return fmt.Sprintf("%s%s/%016x", pAudit, chain, seq)
}

func headKey(chain string) string { return pHeads + chain }

// pageSize is how many keys a scan reads per round trip.
const pageSize = 256

// storedRequest is a request with its retention: from Expires on, reads
// treat it as gone and the sweep deletes it.
type storedRequest struct {
	Expires time.Time   `json:"expires,omitzero"`
	Request mpa.Request `json:"request"`
}

// tx is an optimistic transaction (see the package doc).
type tx struct {
	s      *Store
	ctx    context.Context
	update bool

	rev    int64             // pinned at the first read; 0 before
	reads  map[string]int64  // full key -> mod revision seen (0: absent)
	ranges []string          // full prefixes scanned
	writes map[string][]byte // nil value: a delete
	order  []string          // keys of writes, in first-write order
}

func (s *Store) newTx(ctx context.Context, update bool) *tx {
	return &tx{s: s, ctx: ctx, update: update, reads: map[string]int64{}, writes: map[string][]byte{}}
}

// fetch reads key at the pinned revision, pinning it on the first read.
func (t *tx) fetch(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(t.ctx, key, opts...)
	if errors.Is(err, rpctypes.ErrCompacted) && t.update {
		return nil, fmt.Errorf("%w: snapshot %d compacted", errConflict, t.rev)
	}
	if err != nil {
		return nil, err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// get returns the value at key (relative to the prefix), or nil if absent,
// seeing this transaction's own writes.
func (t *tx) get(key string) ([]byte, error) {
	full := t.s.prefix + key
	if v, ok := t.writes[full]; ok {
		return v, nil
	}
	resp, err := t.fetch(full)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	var mod int64
	var v []byte
	if len(resp.Kvs) > 0 {
		mod, v = resp.Kvs[0].ModRevision, resp.Kvs[0].Value
	}
	if _, seen := t.reads[full]; !seen {
		t.reads[full] = mod
	}
	return v, nil
}

// del deletes key in this transaction. It also bumps the deletion marker
// of prefix, so that a scan of prefix conflicts with it.
func (t *tx) del(prefix, key string) error {
	if err := t.set(key, nil); err != nil {
		return err
	}
	return t.set(pDeleted+prefix, []byte("1"))
}

func (t *tx) set(key string, v []byte) error {
	if !t.update {
		return fmt.Errorf("put %s: read-only transaction", key)
	}
	full := t.s.prefix + key
	if _, ok := t.writes[full]; !ok {
		t.order = append(t.order, full)
	}
	t.writes[full] = v
	return nil
}

func (t *tx) putJSON(key, what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := t.set(key, b); err != nil {
		return fmt.Errorf("put %s: %w", what, err)
	}
	return nil
}

// scanned is one key (without the store prefix) and its value.
type scanned struct {
	key string
	val []byte
}

// scan yields the keys and values under prefix from key start on, in key
// order, merged with this transaction's own writes.
func (t *tx) scan(prefix, start string) iter.Seq2[scanned, error] {
	return func(yield func(scanned, error) bool) {
		full := t.s.prefix + prefix
		// The deletion marker makes a sweep's delete under prefix conflict
		// with this scan; the range compare at commit covers the rest.
		if _, err := t.get(pDeleted + prefix); err != nil {
			yield(scanned{}, err)
			return
		}
		if !slices.Contains(t.ranges, full) {
			t.ranges = append(t.ranges, full)
		}
		from := t.s.prefix + start
		end := clientv3.GetPrefixRangeEnd(full)
		var mine []string
		for k := range t.writes {
			if strings.HasPrefix(k, full) && k >= from {
				mine = append(mine, k)
			}
		}
		slices.Sort(mine)
		emitMine := func(upTo string) bool { // own writes before upTo ("" : all)
			for len(mine) > 0 && (upTo == "" || mine[0] < upTo) {
				k := mine[0]
				mine = mine[1:]
				if t.writes[k] == nil {
					continue // deleted here
				}
				if !yield(scanned{k[len(t.s.prefix):], t.writes[k]}, nil) {
					return false
				}
			}
			return true
		}
		key := from
		for {
			resp, err := t.fetch(key, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
			if err != nil {
				yield(scanned{}, fmt.Errorf("scan %s: %w", prefix, err))
				return
			}
			for _, kv := range resp.Kvs {
				k := string(kv.Key)
				if !emitMine(k) {
					return
				}
				if len(mine) > 0 && mine[0] == k {
					continue // overwritten here: emitted with the next batch of mine
				}
				if !yield(scanned{k[len(t.s.prefix):], kv.Value}, nil) {
					return
				}
			}
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			key = string(append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0))
		}
		emitMine("")
	}
}

// scanKeys yields the keys under prefix, without it.
func (t *tx) scanKeys(prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for kv, err := range t.scan(prefix, prefix) {
			if !yield(strings.TrimPrefix(kv.key, prefix), err) || err != nil {
				return
			}
		}
	}
}

// scanJSON decodes each value of scan as T; keep filters (nil: all).
func scanJSON[T any](t *tx, prefix, start string, decode func([]byte) (T, bool, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for kv, err := range t.scan(prefix, start) {
			var v T
			var ok bool
			if err == nil {
				v, ok, err = decode(kv.val)
				if err == nil && !ok {
					continue
				}
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// commit sends the writes with compares on everything read.
func (t *tx) commit() error {
	if len(t.writes) == 0 {
		return nil // read-only: the snapshot was consistent
	}
	if len(t.writes) > t.s.maxOps {
		return fmt.Errorf("%w: %d writes, etcd allows %d per transaction (--max-txn-ops)", ErrTooLarge, len(t.writes), t.s.maxOps)
	}
	size := 0
	ops := make([]clientv3.Op, 0, len(t.order))
	for _, k := range t.order {
		size += len(k) + len(t.writes[k]) + 16
		if t.writes[k] == nil {
			ops = append(ops, clientv3.OpDelete(k))
			continue
		}
		ops = append(ops, clientv3.OpPut(k, string(t.writes[k])))
	}
	if size > t.s.maxSize {
		return fmt.Errorf("%w: %d bytes, etcd allows %d per request (--max-request-bytes)", ErrTooLarge, size, t.s.maxSize)
	}
	var cmps []clientv3.Cmp
	if t.rev != 0 {
		for k, mod := range t.reads {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", mod))
		}
		for _, p := range t.ranges {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(p), "<", t.rev+1).WithPrefix())
		}
		if len(cmps) > t.s.maxOps {
			// Too many to send: one compare over the whole store is
			// stricter than all of them together.
			cmps = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(t.s.prefix), "<", t.rev+1).WithPrefix()}
		}
	}
	resp, err := t.s.cli.Txn(t.ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("commit to etcd (outcome unknown): %w", err)
	}
	if !resp.Succeeded {
		return errConflict
	}
	return nil
}

func (t *tx) GetRequest(id string) (mpa.Request, error) {
	b, err := t.get(pRequest + id)
	if err != nil {
		return mpa.Request{}, err
	}
	r, ok, err := t.decodeRequest(b)
	if err != nil {
		return mpa.Request{}, fmt.Errorf("request %s: %w", id, err)
	}
	if !ok {
		return mpa.Request{}, fmt.Errorf("request %s: %w", id, mpa.ErrNotFound)
	}
	return r, nil
}

// decodeRequest returns the request in b, and false if there is none
// (absent, or past its retention).
func (t *tx) decodeRequest(b []byte) (mpa.Request, bool, error) {
	if b == nil {
		return mpa.Request{}, false, nil
	}
	var sr storedRequest
	if err := json.Unmarshal(b, &sr); err != nil {
		return mpa.Request{}, false, fmt.Errorf("decode request: %w", err)
	}
	if !sr.Expires.IsZero() && !t.s.now().Before(sr.Expires) {
		return mpa.Request{}, false, nil
	}
	return sr.Request, true, nil
}

func (t *tx) PutRequest(r mpa.Request, ttl time.Duration) error {
	sr := storedRequest{Request: r}
	if ttl > 0 {
		sr.Expires = t.s.now().Add(ttl).UTC()
	}
	if err := t.putJSON(pRequest+r.ID, "request "+r.ID, sr); err != nil {
		return err
	}
	// live/<id> exists exactly while the request is live.
	if r.Status.Final() {
		return t.del(pLive, pLive+r.ID)
	}
	return t.set(pLive+r.ID, []byte("1"))
}

func (t *tx) LiveRequests() iter.Seq2[mpa.Request, error] {
	return func(yield func(mpa.Request, error) bool) {
		var ids []string
		for k, err := range t.scanKeys(pLive) {
			if err != nil {
				yield(mpa.Request{}, err)
				return
			}
			ids = append(ids, k)
		}
		for _, id := range ids {
			r, err := t.GetRequest(id)
			if errors.Is(err, mpa.ErrNotFound) {
				continue
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

func (t *tx) Requests() iter.Seq2[mpa.Request, error] {
	return scanJSON(t, pRequest, pRequest, t.decodeRequest)
}

func (t *tx) GetApprover(name string) (mpa.Approver, error) {
	b, err := t.get(pApprover + name)
	if err != nil {
		return mpa.Approver{}, err
	}
	if b == nil {
		return mpa.Approver{}, fmt.Errorf("approver %s: %w", name, mpa.ErrNotFound)
	}
	a, _, err := t.decodeApprover(b)
	return a, err
}

func (t *tx) decodeApprover(b []byte) (mpa.Approver, bool, error) {
	var a mpa.Approver
	if err := json.Unmarshal(b, &a); err != nil {
		return a, false, fmt.Errorf("decode approver: %w", err)
	}
	if err := t.s.sealer.openApprover(&a); err != nil {
		return mpa.Approver{}, false, err
	}
	return a, true, nil
}

func (t *tx) PutApprover(a mpa.Approver) error {
	if err := t.s.sealer.sealApprover(&a); err != nil {
		return err
	}
	return t.putJSON(pApprover+a.Name, "approver "+a.Name, a)
}

func (t *tx) Approvers() iter.Seq2[mpa.Approver, error] {
	return scanJSON(t, pApprover, pApprover, t.decodeApprover)
}

func (t *tx) GetSettings() (mpa.Settings, error) {
	var st mpa.Settings
	b, err := t.get(kSettings)
	if err != nil || b == nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return mpa.Settings{}, fmt.Errorf("decode settings: %w", err)
	}
	return st, nil
}

func (t *tx) PutSettings(st mpa.Settings) error { return t.putJSON(kSettings, "settings", st) }

// AuditChain is the chain this store appends to (Options.Chain).
func (t *tx) AuditChain() string { return t.s.chain }

// AuditHead reads chain's head record; as in badgerstore, reading it in
// every transaction that appends to the chain is what serialises appends
// to it. Other chains' appends do not touch it: gates do not conflict.
func (t *tx) AuditHead(chain string) (audit.Head, error) {
	var h audit.Head
	b, err := t.get(headKey(chain))
	if err != nil || b == nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return audit.Head{}, fmt.Errorf("decode audit head of chain %s: %w", chain, err)
	}
	return h, nil
}

// AuditChains reads every head record at the transaction's revision
// without adding them to the compares: a head only moves forward, so one
// read here stays true, and an anchoring transaction must not conflict
// with every other gate's appends.
func (t *tx) AuditChains() (map[string]audit.Head, error) {
	heads := map[string]audit.Head{}
	full := t.s.prefix + pHeads
	end := clientv3.GetPrefixRangeEnd(full)
	key := full
	for {
		resp, err := t.fetch(key, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
		if err != nil {
			return nil, fmt.Errorf("scan audit heads: %w", err)
		}
		for _, kv := range resp.Kvs {
			var h audit.Head
			if err := json.Unmarshal(kv.Value, &h); err != nil {
				return nil, fmt.Errorf("decode audit head %s: %w", kv.Key, err)
			}
			heads[strings.TrimPrefix(string(kv.Key), full)] = h
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0))
	}
	// This transaction's own appends.
	for k, v := range t.writes {
		if name, ok := strings.CutPrefix(k, full); ok && v != nil {
			var h audit.Head
			if err := json.Unmarshal(v, &h); err != nil {
				return nil, fmt.Errorf("decode audit head %s: %w", k, err)
			}
			heads[name] = h
		}
	}
	return heads, nil
}

func (t *tx) AppendAudit(e audit.Event) (audit.Event, error) {
	chain := t.s.chain
	head, err := t.AuditHead(chain)
	if err != nil {
		return audit.Event{}, err
	}
	e.Chain = chain
	sealed, err := audit.Seal(head, e)
	if err != nil {
		return audit.Event{}, err
	}
	if err := t.putJSON(auditKey(chain, sealed.Seq), fmt.Sprintf("audit event %s/%d", chain, sealed.Seq), sealed); err != nil {
		return audit.Event{}, err
	}
	if err := t.putJSON(headKey(chain), "audit head", audit.Head{Seq: sealed.Seq, Hash: sealed.Hash}); err != nil {
		return audit.Event{}, err
	}
	return sealed, nil
}

func (t *tx) AuditEvents(chain string, from uint64) iter.Seq2[audit.Event, error] {
	prefix := pAudit + chain + "/"
	return scanJSON(t, prefix, auditKey(chain, from), func(b []byte) (audit.Event, bool, error) {
		var e audit.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return e, false, fmt.Errorf("decode audit event: %w", err)
		}
		return e, true, nil
	})
}

// GateLive reads the gate's member key; the commit compares it like any
// read, so acting on a gate being gone fails if it rejoined.
func (t *tx) GateLive(gateID string) (bool, error) {
	b, err := t.get(pMembers + gateID)
	return b != nil, err
}

// LiveGates scans members/; the commit's range compare makes a join (or
// a lease ending) meanwhile a conflict.
func (t *tx) LiveGates() ([]string, error) {
	var ids []string
	for id, err := range t.scanKeys(pMembers) {
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
