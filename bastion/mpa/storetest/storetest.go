package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
)

// Backend opens the store under test.
type Backend struct {
	// New prepares one fresh, empty data set and returns a function that
	// opens a handle on it: each call is another handle (another client,
	// as a second gate would have; a backend with one handle per data set
	// may return the same one). Handles are closed by the backend through
	// t.Cleanup.
	New func(t *testing.T) (open func() mpa.Store)

	// Gap, if set, makes st's change feeds lose their place: it interrupts
	// them, runs during (which writes and then calls compact), and lets
	// them resume. Backends whose feed cannot have gaps leave it nil.
	Gap func(t *testing.T, st mpa.Store, during func(compact func()))

	// OpenGate, if set, prepares a fresh, empty data set and returns a
	// function opening a handle on it as gate: a handle that appends to
	// gate's own audit chain. Backends with one chain per data set (one
	// gate) leave it nil, and the suite's gates share that chain.
	OpenGate func(t *testing.T) (open func(gate string) mpa.Store)

	// LoseLease, if set, ends m's lease behind the holder's back (as an
	// expiry after a crash or partition would). Nil for backends without
	// leases.
	LoseLease func(t *testing.T, st mpa.Store, m mpa.Membership)
}

// wait bounds every wait in the suite; a backend that needs longer than
// this for a change to arrive is broken, not slow.
const wait = 20 * time.Second

// Run runs the suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"ReadYourWrites", testReadYourWrites},
		{"NotFound", testNotFound},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"LostUpdate", testLostUpdate},
		{"WriteSkew", testWriteSkew},
		{"Phantom", testPhantom},
		{"AbortPublishesNothing", testAbortPublishesNothing},
		{"ChangeOrderAndGrouping", testChangeOrder},
		{"LiveOnReturn", testLiveOnReturn},
		{"ChangesEndWithContext", testChangesEnd},
		{"ResyncAfterGap", testResync},
		{"Retention", testRetention},
		{"LargeTransaction", testLargeTransaction},
		{"ConcurrentRecords", testConcurrentRecords},
		{"ConcurrentRecordsAcrossGates", testRecordsAcrossGates},
		{"AuditFrom", testAuditFrom},
		{"LiveIndex", testLiveIndex},
		{"MembershipExclusive", testMembership},
		{"MembershipLeaseLoss", testLeaseLoss},
		{"LeaderHandover", testLeaderHandover},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// twoHandles opens two handles on one fresh data set, as two gates
// sharing a store have.
func twoHandles(t *testing.T, b Backend) (mpa.Store, mpa.Store) {
	open := b.New(t)
	return open(), open()
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	t.Cleanup(cancel)
	return ctx
}

func req(id string, st mpa.Status) mpa.Request {
	return mpa.Request{ID: id, Kind: mpa.KindCommand, Status: st, Requester: "alice",
		Command: "kill -9 " + id, Created: time.Unix(1700000000, 0).UTC()}
}

func event(kind string, i int) audit.Event {
	return audit.Event{Time: time.Unix(1700000000, int64(i)*1000).UTC(), Kind: kind, Actor: "alice",
		Data: audit.Data(map[string]int{"i": i})}
}

func put(t *testing.T, st mpa.Store, rs ...mpa.Request) {
	t.Helper()
	err := st.Update(ctxFor(t), func(tx mpa.Tx) error {
		for _, r := range rs {
			if err := tx.PutRequest(r, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put requests: %v", err)
	}
}

func getRequest(t *testing.T, st mpa.Store, id string) (mpa.Request, error) {
	t.Helper()
	var r mpa.Request
	err := st.View(ctxFor(t), func(tx mpa.Tx) error {
		var err error
		r, err = tx.GetRequest(id)
		return err
	})
	return r, err
}

// view runs fn in a View of st and fails the test if it returns an error.
func view(ctx context.Context, t *testing.T, st mpa.Store, fn func(tx mpa.Tx) error) {
	t.Helper()
	if err := st.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// update runs fn in an Update of st and fails the test if it returns an
// error.
func update(ctx context.Context, t *testing.T, st mpa.Store, fn func(tx mpa.Tx) error) {
	t.Helper()
	if err := st.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func ids(t *testing.T, tx mpa.Tx) []string {
	t.Helper()
	var out []string
	for r, err := range tx.Requests() {
		if err != nil {
			t.Errorf("requests: %v", err)
			return out
		}
		out = append(out, r.ID)
	}
	return out
}

// changes subscribes to st's change feed for as long as ctx lasts, or
// fails the test.
func changes(ctx context.Context, t *testing.T, st mpa.Store) <-chan mpa.Change {
	t.Helper()
	ch, err := st.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// next returns the next change that is not a resync, or fails.
func next(t *testing.T, ch <-chan mpa.Change) mpa.Change {
	t.Helper()
	var got mpa.Change
	readUntil(t, ch, "a change", func(c mpa.Change, open bool) bool {
		if !open {
			t.Fatal("change feed closed")
		}
		got = c
		return c.Kind != mpa.ChangeResync
	})
	return got
}

// readUntil reads ch until done, told each change and whether the feed
// is still open, says so; it fails t if wait passes first, saying what
// it waited for.
func readUntil(t *testing.T, ch <-chan mpa.Change, what string, done func(c mpa.Change, open bool) bool) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case c, open := <-ch:
			if done(c, open) {
				return
			}
		case <-timer.C:
			t.Fatalf("no %s within %s", what, wait)
		}
	}
}

func testReadYourWrites(t *testing.T, b Backend) {
	st := b.New(t)()
	ctx := ctxFor(t)
	put(t, st, req("req-b", mpa.StatusPending))
	update(ctx, t, st, func(tx mpa.Tx) error {
		if err := tx.PutRequest(req("req-a", mpa.StatusPending), 0); err != nil {
			return err
		}
		r := req("req-b", mpa.StatusApproved)
		if err := tx.PutRequest(r, 0); err != nil {
			return err
		}
		if got, err := tx.GetRequest("req-a"); err != nil || got.Command != "kill -9 req-a" {
			t.Errorf("own write req-a = %+v, %v", got, err)
		}
		if got, err := tx.GetRequest("req-b"); err != nil || got.Status != mpa.StatusApproved {
			t.Errorf("own overwrite req-b = %v, %v; want approved", got.Status, err)
		}
		if got := strings.Join(ids(t, tx), ","); got != "req-a,req-b" {
			t.Errorf("scan in tx = %s; want req-a,req-b in id order", got)
		}
		var seen []mpa.Status
		for r, err := range tx.Requests() {
			if err != nil {
				return err
			}
			seen = append(seen, r.Status)
		}
		if len(seen) != 2 || seen[1] != mpa.StatusApproved {
			t.Errorf("scan statuses %v; want the overwrite seen", seen)
		}
		if err := tx.PutApprover(mpa.Approver{Name: "bob", Status: mpa.Registered, Secret: "JBSWY3DPEHPK3PXP"}); err != nil {
			return err
		}
		if a, err := tx.GetApprover("bob"); err != nil || a.Secret != "JBSWY3DPEHPK3PXP" {
			t.Errorf("own approver = %+v, %v", a, err)
		}
		n := 0
		for a, err := range tx.Approvers() {
			if err != nil {
				return err
			}
			if a.Name == "bob" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("approver scan saw bob %d times; want 1", n)
		}
		if err := tx.PutSettings(mpa.Settings{Enabled: true, UpdatedBy: "bob"}); err != nil {
			return err
		}
		if s, err := tx.GetSettings(); err != nil || !s.Enabled {
			t.Errorf("own settings = %+v, %v", s, err)
		}
		for i := range 3 {
			if _, err := tx.AppendAudit(event("test", i)); err != nil {
				return err
			}
		}
		h, err := tx.AuditHead(tx.AuditChain())
		if err != nil || h.Seq != 3 {
			t.Errorf("head in tx = %+v, %v; want seq 3", h, err)
		}
		if _, err := audit.VerifyHead(tx.AuditEvents(tx.AuditChain(), 1)); err != nil {
			t.Errorf("own events do not chain: %v", err)
		}
		return nil
	})
	view(ctx, t, st, func(tx mpa.Tx) error {
		if got := strings.Join(ids(t, tx), ","); got != "req-a,req-b" {
			t.Errorf("scan after commit = %s", got)
		}
		_, err := VerifyChain(tx)
		return err
	})
}

func testNotFound(t *testing.T, b Backend) {
	st := b.New(t)()
	view(ctxFor(t), t, st, func(tx mpa.Tx) error {
		if _, err := tx.GetRequest("req-none"); !errors.Is(err, mpa.ErrNotFound) {
			t.Errorf("missing request: %v; want ErrNotFound", err)
		}
		if _, err := tx.GetApprover("nobody"); !errors.Is(err, mpa.ErrNotFound) {
			t.Errorf("missing approver: %v; want ErrNotFound", err)
		}
		if s, err := tx.GetSettings(); err != nil || s.Enabled || s.Policy != nil {
			t.Errorf("missing settings = %+v, %v; want the zero Settings", s, err)
		}
		if h, err := tx.AuditHead(tx.AuditChain()); err != nil || h != (audit.Head{}) {
			t.Errorf("empty head = %+v, %v", h, err)
		}
		return nil
	})
	// An error from fn aborts and comes back as is.
	sentinel := errors.New("storetest: abort")
	if err := st.Update(ctxFor(t), func(mpa.Tx) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Update returned %v; want fn's error", err)
	}
}

// A View sees one snapshot: a commit made while it runs is invisible to it.
func testSnapshotIsolation(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	put(t, st, req("req-a", mpa.StatusPending))
	read, committed := make(chan struct{}), make(chan error, 1)
	go func() {
		<-read
		err := other.Update(context.Background(), func(tx mpa.Tx) error {
			if err := tx.PutRequest(req("req-a", mpa.StatusApproved), 0); err != nil {
				return err
			}
			return tx.PutRequest(req("req-new", mpa.StatusPending), 0)
		})
		committed <- err
	}()
	view(ctxFor(t), t, st, func(tx mpa.Tx) error {
		if r, err := tx.GetRequest("req-a"); err != nil || r.Status != mpa.StatusPending {
			return fmt.Errorf("first read = %v, %v", r.Status, err)
		}
		close(read)
		select {
		case err := <-committed:
			if err != nil {
				return fmt.Errorf("concurrent commit: %w", err)
			}
		case <-time.After(wait):
			return fmt.Errorf("concurrent commit did not finish within %s", wait)
		}
		if r, err := tx.GetRequest("req-a"); err != nil || r.Status != mpa.StatusPending {
			t.Errorf("second read = %v, %v; want the snapshot's pending", r.Status, err)
		}
		if _, err := tx.GetRequest("req-new"); !errors.Is(err, mpa.ErrNotFound) {
			t.Errorf("a request committed after the snapshot is visible: %v", err)
		}
		if got := strings.Join(ids(t, tx), ","); got != "req-a" {
			t.Errorf("scan = %s; want the snapshot's req-a", got)
		}
		return nil
	})
	if r, err := getRequest(t, st, "req-a"); err != nil || r.Status != mpa.StatusApproved {
		t.Fatalf("after the view: %v, %v; want approved", r.Status, err)
	}
}

// interleave runs first on a and, after its first attempt has read,
// second on b to completion; first's first attempt then writes and must
// be retried. It returns how many times first ran.
func interleave(t *testing.T, a, b mpa.Store, first, second func(tx mpa.Tx) error) int {
	t.Helper()
	var runs atomic.Int32
	update(ctxFor(t), t, a, func(tx mpa.Tx) error {
		n := runs.Add(1)
		if err := first(tx); err != nil {
			return err
		}
		if n == 1 {
			if err := b.Update(ctxFor(t), second); err != nil {
				return fmt.Errorf("interleaved transaction: %w", err)
			}
		}
		return nil
	})
	return int(runs.Load())
}

// Two gates increment the same counter; neither increment is lost.
func testLostUpdate(t *testing.T, b Backend) {
	a, other := twoHandles(t, b)
	update(ctxFor(t), t, a, func(tx mpa.Tx) error {
		return tx.PutApprover(mpa.Approver{Name: "bob", Status: mpa.Registered})
	})
	inc := func(tx mpa.Tx) error {
		ap, err := tx.GetApprover("bob")
		if err != nil {
			return err
		}
		ap.Failures++
		return tx.PutApprover(ap)
	}
	var read mpa.Approver
	runs := interleave(t, a, other, func(tx mpa.Tx) error {
		var err error
		read, err = tx.GetApprover("bob")
		if err != nil {
			return err
		}
		read.Failures++
		return tx.PutApprover(read)
	}, inc)
	if runs < 2 {
		t.Errorf("the first transaction ran %d time(s); its commit should have conflicted", runs)
	}
	view(ctxFor(t), t, a, func(tx mpa.Tx) error {
		ap, err := tx.GetApprover("bob")
		if err == nil && ap.Failures != 2 {
			t.Errorf("failures = %d; want 2 (an update was lost)", ap.Failures)
		}
		return err
	})
}

// Two requests where at most one may be released: each transaction reads
// both and releases one. Serializable execution releases exactly one.
func testWriteSkew(t *testing.T, b Backend) {
	a, other := twoHandles(t, b)
	put(t, a, req("req-x", mpa.StatusApproved), req("req-y", mpa.StatusApproved))
	release := func(id string) func(tx mpa.Tx) error {
		return func(tx mpa.Tx) error {
			for _, other := range []string{"req-x", "req-y"} {
				r, err := tx.GetRequest(other)
				if err != nil {
					return err
				}
				if r.Status == mpa.StatusExecuting {
					return nil // one already runs
				}
			}
			return tx.PutRequest(req(id, mpa.StatusExecuting), 0)
		}
	}
	interleave(t, a, other, release("req-x"), release("req-y"))
	running := 0
	for _, id := range []string{"req-x", "req-y"} {
		r, err := getRequest(t, a, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == mpa.StatusExecuting {
			running++
		}
	}
	if running != 1 {
		t.Fatalf("%d requests executing; want exactly 1 (write skew)", running)
	}
}

// The same through a scan: each transaction creates a request only if the
// scan finds none. A prefix read must conflict with an insert under it.
func testPhantom(t *testing.T, b Backend) {
	a, other := twoHandles(t, b)
	createIfNone := func(id string) func(tx mpa.Tx) error {
		return func(tx mpa.Tx) error {
			for _, err := range tx.Requests() {
				if err != nil {
					return err
				}
				return nil // one exists
			}
			return tx.PutRequest(req(id, mpa.StatusPending), 0)
		}
	}
	interleave(t, a, other, createIfNone("req-1"), createIfNone("req-2"))
	view(ctxFor(t), t, a, func(tx mpa.Tx) error {
		if got := ids(t, tx); len(got) != 1 {
			t.Errorf("requests %v; want exactly one (phantom insert missed)", got)
		}
		return nil
	})
}

func testAbortPublishesNothing(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := changes(ctx, t, other)
	abort := errors.New("storetest: abort")
	err := st.Update(ctx, func(tx mpa.Tx) error {
		if err := tx.PutRequest(req("req-aborted", mpa.StatusPending), 0); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(event("aborted", 0)); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatalf("aborted update: %v", err)
	}
	if _, err := getRequest(t, st, "req-aborted"); !errors.Is(err, mpa.ErrNotFound) {
		t.Fatalf("aborted write is visible: %v", err)
	}
	put(t, st, req("req-marker", mpa.StatusPending))
	c := next(t, ch)
	if c.Kind != mpa.ChangeRequest || c.Request.ID != "req-marker" {
		t.Fatalf("first change %+v; want the marker (the aborted transaction published)", c)
	}
}

// Changes come in commit order; one transaction's changes share a
// revision and arrive together; every handle sees the same sequence.
func testChangeOrder(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	mine := changes(ctx, t, st)
	theirs := changes(ctx, t, other)
	const n = 20
	for i := range n {
		w := st
		if i%2 == 1 {
			w = other
		}
		update(ctx, t, w, func(tx mpa.Tx) error {
			// The audit events are appended first: the feed puts a
			// transaction's records before its audit events whatever
			// order they were written in.
			for range 2 {
				if _, err := tx.AppendAudit(event("order", i)); err != nil {
					return err
				}
			}
			return tx.PutRequest(req(fmt.Sprintf("req-%02d", i), mpa.StatusPending), 0)
		})
	}
	check := func(name string, ch <-chan mpa.Change) []uint64 {
		var revs []uint64
		var lastRev uint64
		for i := range n {
			var gotReq bool
			var gotAudit int
			var rev uint64
			for range 3 {
				c := next(t, ch)
				if rev == 0 {
					rev = c.Rev
				} else if c.Rev != rev {
					t.Fatalf("%s: transaction %d's changes at revisions %d and %d; want one", name, i, rev, c.Rev)
				}
				switch c.Kind {
				case mpa.ChangeRequest:
					if want := fmt.Sprintf("req-%02d", i); c.Request.ID != want {
						t.Fatalf("%s: change for %s; want %s (out of order or split)", name, c.Request.ID, want)
					}
					gotReq = true
				case mpa.ChangeAudit:
					// A reader of the feed (webhooks, metrics) reads the
					// request an audit event is about from the changes
					// before it: the records come first, then the
					// events in chain order.
					if !gotReq {
						t.Fatalf("%s: transaction %d's audit event %d came before its request", name, i, c.Audit.Seq)
					}
					if want := uint64(2*i + 1 + gotAudit); c.Audit.Seq != want {
						t.Fatalf("%s: audit change seq %d; want %d", name, c.Audit.Seq, want)
					}
					gotAudit++
				default:
					t.Fatalf("%s: unexpected change kind %d", name, c.Kind)
				}
			}
			if !gotReq || gotAudit != 2 {
				t.Fatalf("%s: transaction %d delivered request=%v and %d audit events; want the request and 2", name, i, gotReq, gotAudit)
			}
			if rev == 0 || rev <= lastRev {
				t.Fatalf("%s: transaction %d at revision %d after %d; want growing revisions", name, i, rev, lastRev)
			}
			lastRev = rev
			revs = append(revs, rev)
		}
		return revs
	}
	a, o := check("writer's feed", mine), check("other handle's feed", theirs)
	if fmt.Sprint(a) != fmt.Sprint(o) {
		t.Fatalf("handles saw different revisions: %v and %v", a, o)
	}
}

// A change committed right after Changes returns is delivered.
func testLiveOnReturn(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	for i := range 25 {
		ctx, cancel := context.WithCancel(ctxFor(t))
		ch := changes(ctx, t, st)
		id := fmt.Sprintf("req-live-%d", i)
		put(t, other, req(id, mpa.StatusPending))
		if c := next(t, ch); c.Kind != mpa.ChangeRequest || c.Request.ID != id {
			t.Fatalf("round %d: change %+v; want %s", i, c, id)
		}
		cancel()
	}
}

func testChangesEnd(t *testing.T, b Backend) {
	st := b.New(t)()
	ctx, cancel := context.WithCancel(ctxFor(t))
	ch := changes(ctx, t, st)
	put(t, st, req("req-1", mpa.StatusPending)) // queued, never read
	cancel()
	readUntil(t, ch, "end of the feed after its context ended", func(_ mpa.Change, open bool) bool { return !open })
}

// After a gap (a lost watch whose history was compacted) the feed says
// ChangeResync, then goes on with changes committed after it.
func testResync(t *testing.T, b Backend) {
	if b.Gap == nil {
		t.Skip("backend's change feed has no gaps")
	}
	st, other := twoHandles(t, b)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := changes(ctx, t, st)
	put(t, other, req("req-before", mpa.StatusPending))
	if c := next(t, ch); c.Request == nil || c.Request.ID != "req-before" {
		t.Fatalf("change %+v; want req-before", c)
	}
	b.Gap(t, st, func(compact func()) {
		for i := range 5 {
			put(t, other, req(fmt.Sprintf("req-gap-%d", i), mpa.StatusPending))
		}
		compact()
	})
	// Changes the feed had before the gap may come first; then the resync.
	readUntil(t, ch, "resync after a gap", func(c mpa.Change, open bool) bool {
		if !open {
			t.Fatal("feed closed after a gap; want a resync")
		}
		if c.Kind == mpa.ChangeRequest && !strings.HasPrefix(c.Request.ID, "req-gap-") {
			t.Fatalf("change %s before the resync", c.Request.ID)
		}
		return c.Kind == mpa.ChangeResync
	})
	// A reader re-reads on resync: everything written in the gap is there.
	view(ctx, t, st, func(tx mpa.Tx) error {
		if got := len(ids(t, tx)); got != 6 {
			t.Errorf("%d requests after the gap; want 6", got)
		}
		return nil
	})
	// And the feed goes on.
	put(t, other, req("req-after", mpa.StatusPending))
	if c := next(t, ch); c.Kind != mpa.ChangeRequest || c.Request.ID != "req-after" {
		t.Fatalf("change after the resync %+v; want req-after", c)
	}
}

// A request written with a TTL disappears after it; one without stays;
// audit events stay.
func testRetention(t *testing.T, b Backend) {
	st := b.New(t)()
	ctx := ctxFor(t)
	update(ctx, t, st, func(tx mpa.Tx) error {
		if err := tx.PutRequest(req("req-done", mpa.StatusCompleted), time.Second); err != nil {
			return err
		}
		if err := tx.PutRequest(req("req-live", mpa.StatusPending), 0); err != nil {
			return err
		}
		_, err := tx.AppendAudit(event("retention", 0))
		return err
	})
	if _, err := getRequest(t, st, "req-done"); err != nil {
		t.Fatalf("request read back before its TTL: %v", err)
	}
	deadline := time.Now().Add(wait)
	for {
		_, err := getRequest(t, st, "req-done")
		if errors.Is(err, mpa.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("request with a 1s TTL still there after %s", wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	view(ctx, t, st, func(tx mpa.Tx) error {
		if got := strings.Join(ids(t, tx), ","); got != "req-live" {
			t.Errorf("scan after retention = %q; want req-live only", got)
		}
		h, err := tx.AuditHead(tx.AuditChain())
		if err != nil || h.Seq != 1 {
			t.Errorf("audit head = %+v, %v; want the event kept", h, err)
		}
		return nil
	})
}

// An update_policy request carries the whole policy text: a transaction
// of 1 MiB must commit and read back intact.
func testLargeTransaction(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	// 1 MiB of policy text less room for the request's other fields.
	// (Characters JSON must escape would make the record larger than the
	// text: in-memory Badger refuses values over 1 MiB.)
	text := strings.Repeat("rule x; ", (1<<20-4096)/8)
	payload, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		t.Fatal(err)
	}
	r := req("req-policy", mpa.StatusPending)
	r.Kind, r.Payload = mpa.KindUpdatePolicy, payload
	err = st.Update(ctxFor(t), func(tx mpa.Tx) error {
		if err := tx.PutRequest(r, 0); err != nil {
			return err
		}
		_, err := tx.AppendAudit(event(audit.KindRequestCreated, 0))
		return err
	})
	if err != nil {
		t.Fatalf("1 MiB transaction: %v", err)
	}
	got, err := getRequest(t, other, "req-policy")
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(got.Payload, &back); err != nil || back["text"] != text {
		t.Fatalf("payload read back: %d bytes, %v; want %d bytes intact", len(got.Payload), err, len(payload))
	}
}

// 500 records from concurrent writers on two handles, then the chain
// verifies end to end with every record in it once.
func testConcurrentRecords(t *testing.T, b Backend) {
	open := b.New(t)
	handles := []mpa.Store{open(), open()}
	const n = 500
	errs := mpatest.Race(n, func(i int) error {
		_, err := appendOne(ctxFor(t), handles[i%2], event("record", i))
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	err := handles[1].View(ctxFor(t), func(tx mpa.Tx) error {
		head, err := VerifyChain(tx)
		if err != nil {
			return err
		}
		if head.Seq != n {
			return fmt.Errorf("head at %d; want %d", head.Seq, n)
		}
		seen := map[string]bool{}
		for e, err := range tx.AuditEvents(tx.AuditChain(), 1) {
			if err != nil {
				return err
			}
			seen[string(e.Data)] = true
		}
		if len(seen) != n {
			return fmt.Errorf("%d distinct records in the chain; want %d", len(seen), n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("chain after concurrent records: %v", err)
	}
}

// 500 records from concurrent sessions on three gates, each through its
// Service (group commit), with anchors taken while they run; then every
// chain verifies, every anchor matches, and every record is in the trail
// once. With a backend that gives each gate its chain there are three
// chains, each holding its gate's records.
func testRecordsAcrossGates(t *testing.T, b Backend) {
	gates := []string{"gate-a", "gate-b", "gate-c"}
	var handles []mpa.Store
	if b.OpenGate != nil {
		open := b.OpenGate(t)
		for _, g := range gates {
			handles = append(handles, open(g))
		}
	} else {
		open := b.New(t)
		for range gates {
			handles = append(handles, open())
		}
	}
	svcs := make([]*mpa.Service, len(gates))
	for i, g := range gates {
		svcs[i] = mpa.New(handles[i], mpa.Options{Node: g})
	}
	ctx := ctxFor(t)
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, 2*n) // n records and a few anchors
	for i := range n {
		wg.Go(func() {
			e := event("record", i)
			e.Actor = gates[i%len(gates)]
			_, err := svcs[i%len(gates)].Record(ctx, e)
			errs <- err
		})
		if i%100 == 50 { // anchors while records flow
			for _, svc := range svcs {
				wg.Go(func() { _, err := svc.Anchor(ctx); errs <- err })
			}
		}
	}
	wg.Wait()
	for _, svc := range svcs { // and once everything is in
		if _, err := svc.Anchor(ctx); err != nil {
			t.Fatalf("anchor: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("record or anchor: %v", err)
		}
	}
	heads, err := svcs[1].VerifyAuditChains(ctx)
	if err != nil {
		t.Fatalf("verify after concurrent records: %v", err)
	}
	if b.OpenGate != nil && len(heads) != len(gates) {
		t.Fatalf("%d chains %v; want one per gate", len(heads), heads)
	}
	seen := map[string]int{}
	anchors := 0
	var total uint64
	for _, h := range heads {
		total += h.Seq
	}
	var listed uint64
	for e, err := range svcs[0].AuditEvents(ctx, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
		switch e.Kind {
		case "record":
			seen[string(e.Data)]++
			if b.OpenGate != nil && e.Chain != e.Actor {
				t.Errorf("record of %s in chain %q", e.Actor, e.Chain)
			}
		case audit.KindAnchor:
			anchors++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records in the trail; want %d", len(seen), n)
	}
	for d, c := range seen {
		if c != 1 {
			t.Fatalf("record %s %d times", d, c)
		}
	}
	if listed != total {
		t.Fatalf("listed %d events; the chains' heads add up to %d", listed, total)
	}
	if b.OpenGate != nil && anchors < len(gates) {
		t.Fatalf("%d anchors; want at least one per gate", anchors)
	}
}

func appendOne(ctx context.Context, st mpa.Store, e audit.Event) (audit.Event, error) {
	var out audit.Event
	err := st.Update(ctx, func(tx mpa.Tx) error {
		var err error
		out, err = tx.AppendAudit(e)
		return err
	})
	return out, err
}

func testAuditFrom(t *testing.T, b Backend) {
	st := b.New(t)()
	for i := range 7 {
		if _, err := appendOne(ctxFor(t), st, event("from", i)); err != nil {
			t.Fatal(err)
		}
	}
	view(ctxFor(t), t, st, func(tx mpa.Tx) error {
		var seqs []uint64
		for e, err := range tx.AuditEvents(tx.AuditChain(), 5) {
			if err != nil {
				return err
			}
			seqs = append(seqs, e.Seq)
		}
		if fmt.Sprint(seqs) != "[5 6 7]" {
			t.Errorf("events from 5 = %v", seqs)
		}
		return nil
	})
}

func testMembership(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	ctx := ctxFor(t)
	m, err := st.Join(ctx, "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Join(ctx, "gate-a"); !errors.Is(err, mpa.ErrGateIDInUse) {
		t.Fatalf("second live gate-a joined: %v; want ErrGateIDInUse", err)
	}
	mb, err := other.Join(ctx, "gate-b")
	if err != nil {
		t.Fatalf("gate-b beside gate-a: %v", err)
	}
	defer mb.Close()
	select {
	case <-m.Done():
		t.Fatal("membership done while held")
	default:
	}
	live := func(st mpa.Store, id string) bool {
		var ok bool
		view(ctx, t, st, func(tx mpa.Tx) error {
			var err error
			ok, err = tx.GateLive(id)
			return err
		})
		return ok
	}
	if !live(st, "gate-a") {
		t.Fatal("gate-a not live while joined")
	}
	if b.LoseLease != nil { // a shared store: every handle sees every gate
		view(ctx, t, other, func(tx mpa.Tx) error {
			gates, err := tx.LiveGates()
			if err == nil && strings.Join(gates, ",") != "gate-a,gate-b" {
				t.Errorf("live gates %v; want gate-a,gate-b", gates)
			}
			return err
		})
	}
	if live(st, "gate-z") {
		t.Fatal("gate-z live though it never joined")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if live(other, "gate-a") {
		t.Fatal("gate-a still live after it left")
	}
	select {
	case <-m.Done():
	case <-time.After(wait):
		t.Fatal("membership not done after Close")
	}
	m2, err := other.Join(ctx, "gate-a")
	if err != nil {
		t.Fatalf("gate-a after it left: %v", err)
	}
	m2.Close()
}

func testLeaseLoss(t *testing.T, b Backend) {
	if b.LoseLease == nil {
		t.Skip("backend has no leases")
	}
	st, other := twoHandles(t, b)
	ctx := ctxFor(t)
	m, err := st.Join(ctx, "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b.LoseLease(t, st, m)
	select {
	case <-m.Done():
	case <-time.After(wait):
		t.Fatalf("membership not done %s after its lease was lost", wait)
	}
	m2, err := other.Join(ctx, "gate-a")
	if err != nil {
		t.Fatalf("gate-a's id after its lease was lost: %v", err)
	}
	m2.Close()
}

// Leadership passes on Resign, and the fence stops the old leader's
// transactions once it has.
func testLeaderHandover(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	ctx := ctxFor(t)
	la, err := st.Campaign(ctx, "webhooks", "gate-a")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan mpa.Leadership, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := other.Campaign(ctx, "webhooks", "gate-b")
		if err != nil {
			errc <- err
			return
		}
		got <- l
	}()
	fenced := func(st mpa.Store, l mpa.Leadership, id string) error {
		return st.Update(ctx, func(tx mpa.Tx) error {
			if err := l.Fence(tx); err != nil {
				return err
			}
			return tx.PutRequest(req(id, mpa.StatusExpired), 0)
		})
	}
	if err := fenced(st, la, "req-by-a"); err != nil {
		t.Fatalf("leader's fenced write: %v", err)
	}
	select {
	case <-got:
		t.Fatal("two leaders at once")
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	var lb mpa.Leadership
	select {
	case lb = <-got:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(wait):
		t.Fatalf("gate-b not leader %s after gate-a resigned", wait)
	}
	select {
	case <-la.Done():
	default:
		t.Fatal("resigned leadership not done")
	}
	if err := fenced(st, la, "req-stale"); !errors.Is(err, mpa.ErrNotLeader) {
		t.Fatalf("old leader's fenced write: %v; want ErrNotLeader", err)
	}
	if _, err := getRequest(t, st, "req-stale"); !errors.Is(err, mpa.ErrNotFound) {
		t.Fatalf("old leader's write committed: %v", err)
	}
	if err := fenced(other, lb, "req-by-b"); err != nil {
		t.Fatalf("new leader's fenced write: %v", err)
	}
	lb.Resign(ctx)
}

// LiveRequests yields exactly the requests not in a final status, follows
// status changes in the same transaction, and a scan of it conflicts with
// a request leaving it.
func testLiveIndex(t *testing.T, b Backend) {
	st, other := twoHandles(t, b)
	put(t, st, req("req-a", mpa.StatusPending), req("req-b", mpa.StatusApproved),
		req("req-c", mpa.StatusCompleted), req("req-d", mpa.StatusExecuting))
	live := func(tx mpa.Tx) string {
		var out []string
		for r, err := range tx.LiveRequests() {
			if err != nil {
				t.Errorf("live requests: %v", err)
				break
			}
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	update(ctxFor(t), t, st, func(tx mpa.Tx) error {
		if got := live(tx); got != "req-a,req-b,req-d" {
			t.Errorf("live = %s; want req-a,req-b,req-d", got)
		}
		if err := tx.PutRequest(req("req-b", mpa.StatusCompleted), 0); err != nil {
			return err
		}
		if err := tx.PutRequest(req("req-c", mpa.StatusPending), 0); err != nil {
			return err
		}
		if got := live(tx); got != "req-a,req-c,req-d" {
			t.Errorf("live after own changes = %s; want req-a,req-c,req-d", got)
		}
		return nil
	})
	// A transaction that found req-a live and acts on it conflicts with
	// req-a's leaving the index meanwhile.
	runs := interleave(t, st, other, func(tx mpa.Tx) error {
		n := 0
		for _, err := range tx.LiveRequests() {
			if err != nil {
				return err
			}
			n++
		}
		return tx.PutSettings(mpa.Settings{UpdatedBy: fmt.Sprint(n, " live")})
	}, func(tx mpa.Tx) error {
		return tx.PutRequest(req("req-a", mpa.StatusCancelled), 0)
	})
	if runs < 2 {
		t.Errorf("a scan of the live index did not conflict with a request leaving it")
	}
	view(ctxFor(t), t, other, func(tx mpa.Tx) error {
		if got := live(tx); got != "req-c,req-d" {
			t.Errorf("live at the end = %s; want req-c,req-d", got)
		}
		if s, err := tx.GetSettings(); err != nil || s.UpdatedBy != "2 live" {
			t.Errorf("settings %+v, %v; want the retry's count, 2 live", s, err)
		}
		return nil
	})
}
