package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// StoreFigures is decisions recorded per second, and the time each took to
// record (the store's share of a session's overhead: a session's decision
// is recorded before its command runs), with gates recording at once.
type StoreFigures struct {
	Backend   string  `json:"backend"`
	Gates     int     `json:"gates"`
	Chains    int     `json:"audit_chains"`
	Sessions  int     `json:"sessions_per_gate"`
	Records   int     `json:"records"`
	PerSecond float64 `json:"records_per_second"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
}

// storesBench records decisions as the gate does (mpa.Service.Record,
// group-committed) on an on-disk Badger store with one gate, and on a
// three-member etcd cluster on loopback with one and with three gates
// (each gate its own client and Service, as separate gate processes
// would have). The etcd members run in this process (etcdtest), on the
// same cores as the gates.
func storesBench(ctx context.Context, perGate, sessions int, oneChain bool) ([]StoreFigures, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []StoreFigures

	dir, err := os.MkdirTemp("", "keyturnbench-badger-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bst, err := badgerstore.Open(badgerstore.Options{Dir: dir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("badger: %w", err)
	}
	f, err := recordOn(ctx, "badger (disk, synced)", []*mpa.Service{mpa.New(bst, mpa.Options{Logger: log, Node: "g0"})}, perGate, sessions)
	bst.Close()
	if err != nil {
		return nil, err
	}
	out = append(out, f)

	progress("starting a three-member etcd cluster on loopback")
	cl, err := etcdtest.StartCluster(3)
	if err != nil {
		return nil, err
	}
	defer cl.Stop()
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, gates := range []int{1, 3} {
		prefix := fmt.Sprintf("/keyturnbench/%d/", gates)
		var svcs []*mpa.Service
		var stores []*etcdstore.Store
		for i := range gates {
			// Each gate its own audit chain, as gate_id names it (or,
			// with --one-chain, all on one, for comparison).
			chain := fmt.Sprintf("g%d", i)
			if oneChain {
				chain = "shared"
			}
			st, err := etcdstore.Open(etcdstore.Options{Endpoints: cl.Endpoints, Prefix: prefix, Chain: chain, SecretKey: key, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("etcd: %w", err)
			}
			stores = append(stores, st)
			svcs = append(svcs, mpa.New(st, mpa.Options{Logger: log, Node: fmt.Sprintf("g%d", i)}))
		}
		f, err := recordOn(ctx, "etcd (3 members)", svcs, perGate, sessions)
		for _, st := range stores {
			st.Close()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// recordOn has sessions goroutines per gate record perGate decisions per
// gate in all, and measures.
func recordOn(ctx context.Context, backend string, gates []*mpa.Service, perGate, sessions int) (StoreFigures, error) {
	progress("recording %d decisions on each of %d gate(s), %s, %d sessions per gate", perGate, len(gates), backend, sessions)
	data, _ := json.Marshal(map[string]any{"verdict": "allow", "command": "uptime", "target": "web-1"})
	// Warm up: connections, the first transaction.
	for _, g := range gates {
		if _, err := g.Record(ctx, audit.Event{Kind: "decision", Actor: "bench", Data: data}); err != nil {
			return StoreFigures{}, fmt.Errorf("%s: warm-up record: %w", backend, err)
		}
	}
	// Gates anchor each other's chains while they record, as a gate on
	// a shared store does (a Badger store has one chain: nothing to do).
	actx, stopAnchors := context.WithCancel(ctx)
	var anchoring sync.WaitGroup
	if len(gates) > 1 {
		for _, g := range gates {
			anchoring.Go(func() { g.RunAnchors(actx) })
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for _, g := range gates {
		for s := range sessions {
			n := perGate / sessions
			if s < perGate%sessions {
				n++
			}
			wg.Go(func() {
				mine := make([]time.Duration, 0, n)
				for range n {
					t0 := time.Now()
					_, err := g.Record(ctx, audit.Event{Kind: "decision", Actor: "alice", Target: "web-1", Data: data})
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopAnchors()
	anchoring.Wait()
	if firstErr != nil {
		return StoreFigures{}, fmt.Errorf("%s: record: %w", backend, firstErr)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	// The chains the gates wrote, and their anchors, must verify.
	heads, err := gates[0].VerifyAuditChains(ctx)
	if err != nil {
		return StoreFigures{}, fmt.Errorf("%s: audit chains after the run: %w", backend, err)
	}
	return StoreFigures{Backend: backend, Gates: len(gates), Chains: len(heads), Sessions: sessions, Records: len(lat),
		PerSecond: float64(len(lat)) / elapsed.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99)}, nil
}

// printStores prints the store figures as a table.
func printStores(w io.Writer, fs []StoreFigures) {
	fmt.Fprintf(w, "\nDecisions recorded (mpa.Service.Record, group commit)\n")
	fmt.Fprintf(w, "%-22s %5s %6s %9s %8s %12s %8s %8s\n", "store", "gates", "chains", "sessions", "records", "records/s", "p50 ms", "p99 ms")
	for _, f := range fs {
		fmt.Fprintf(w, "%-22s %5d %6d %9d %8d %12.0f %8.2f %8.2f\n", f.Backend, f.Gates, f.Chains, f.Sessions, f.Records, f.PerSecond, f.P50ms, f.P99ms)
	}
}
