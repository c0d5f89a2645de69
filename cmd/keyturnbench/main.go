package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the run's sizes; --quick swaps in smaller ones.
type options struct {
	quick      bool
	jsonPath   string
	keep       bool
	gateBin    string
	policies   string
	coldRuns   int
	warmRuns   int
	defRuns    int // cold runs with the client's default algorithms
	size       int64
	sessions   []int
	hold       time.Duration
	requests   int
	approvers  int
	decideTime time.Duration
	limit      time.Duration
	only       map[string]bool // parts to run (--only); empty: all
	pairRuns   int             // iterations of the interleaved warm pair
}

// wants says whether the run includes part (see --only).
func (o options) wants(part string) bool { return len(o.only) == 0 || o.only[part] }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("keyturnbench", flag.ContinueOnError)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "a reduced set that runs in under a minute")
	fs.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to `file`")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs) for a look afterwards")
	fs.StringVar(&o.gateBin, "keyturn", "", "use this keyturn `binary` instead of building cmd/keyturn")
	fs.StringVar(&o.policies, "policies", "policies.yaml", "the gate's policy `file` (the shipped one)")
	storesOnly := fs.Bool("stores", false, "only measure decisions recorded per second on Badger and on a three-member etcd with 1 and 3 gates")
	oneChain := fs.Bool("one-chain", false, "with --stores: every etcd gate appends to one audit chain (the design before per-gate chains), for comparison")
	storeCold := fs.Bool("store-cold", false, "only measure a cold ssh through a gate on Badger and through one on a three-member etcd, side by side")
	only := fs.String("only", "", "run only these `parts`, comma-separated: cold, warm, throughput, concurrency, approval")
	fs.IntVar(&o.pairRuns, "warm-runs", 0, "iterations of the interleaved direct/keyturn warm exec (default 60, 20 with --quick)")
	streamMiB := fs.Int("stream-mib", 0, "MiB streamed per path and algorithm set in the throughput part (default 1024, 64 with --quick)")
	sessions := fs.String("sessions", "", "concurrent session counts for the concurrency part, comma-separated (default 200,500; 200 with --quick)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *storesOnly {
		perGate, sessions := 20000, 32
		if o.quick {
			perGate = 4000
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		fsg, err := storesBench(ctx, perGate, sessions, *oneChain)
		if err != nil {
			fmt.Fprintf(os.Stderr, "keyturnbench: %v\n", err)
			return 1
		}
		printStores(os.Stdout, fsg)
		return 0
	}
	if *storeCold {
		runs := 60
		if o.quick {
			runs = 15
		}
		o.requests, o.approvers = 0, 0
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		r, err := storeColdBench(ctx, o, runs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "keyturnbench: %v\n", err)
			return 1
		}
		printStoreCold(os.Stdout, r)
		return saveJSON(o.jsonPath, r)
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, part := range strings.Split(*only, ",") {
			switch part {
			case "cold", "warm", "throughput", "concurrency", "approval":
				o.only[part] = true
			default:
				fmt.Fprintf(os.Stderr, "keyturnbench: --only: unknown part %q\n", part)
				return 2
			}
		}
	}
	if o.quick {
		o.coldRuns, o.warmRuns, o.defRuns = 10, 10, 5
		o.size, o.sessions, o.hold = 64<<20, []int{200}, time.Second
		o.requests, o.decideTime, o.limit = 5, 300*time.Millisecond, 2*time.Minute
	} else {
		o.coldRuns, o.warmRuns, o.defRuns = 60, 60, 20
		o.size, o.sessions, o.hold = 1<<30, []int{200, 500}, time.Second
		o.requests, o.decideTime, o.limit = 50, 2*time.Second, 15*time.Minute
	}
	if *streamMiB > 0 {
		o.size = int64(*streamMiB) << 20
	}
	if *sessions != "" {
		o.sessions = nil
		for _, f := range strings.Split(*sessions, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 || n > 5000 {
				fmt.Fprintf(os.Stderr, "keyturnbench: --sessions: %q is not a count from 1 to 5000\n", f)
				return 2
			}
			o.sessions = append(o.sessions, n)
		}
	}
	if o.pairRuns <= 0 {
		o.pairRuns = 60
		if o.quick {
			o.pairRuns = 20
		}
	}
	o.approvers = o.requests + 4 // two approvals each right away, see nextApprover

	// A hard limit, and Ctrl-C, end the run; what was started is stopped.
	ctx, cancel := context.WithTimeout(context.Background(), o.limit)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyturnbench: %v\n", err)
		return 1
	}
	r.Command = "go run ./cmd/keyturnbench " + strings.Join(args, " ")
	printTable(os.Stdout, r)
	return saveJSON(o.jsonPath, r)
}

// saveJSON writes r to path when --json asked for it, and returns the
// exit status: 1 if the file cannot be written.
func saveJSON(path string, r any) int {
	if path == "" {
		return 0
	}
	if err := writeJSON(path, r); err != nil {
		fmt.Fprintf(os.Stderr, "keyturnbench: write %s: %v\n", path, err)
		return 1
	}
	return 0
}

// bench sets everything up, measures in order, and tears it down.
func bench(ctx context.Context, o options) (*Results, error) {
	start := time.Now()
	r := &Results{Quick: o.quick, Machine: machine(), Algorithms: algSets,
		Negotiated: map[string]map[string]Negotiated{}, Cold: map[string]map[string]Dist{},
		Throughput: map[string]map[string]Throughput{}, ThroughputSize: o.size}

	// In-process and first, while nothing else runs on the machine.
	progress("policy decisions on %s", o.policies)
	d, err := decisionsPerSecond(o.policies, o.decideTime)
	if err != nil {
		return nil, err
	}
	r.Decisions = d

	progress("starting sshd targets, a jump host and the gate")
	e, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close(o.keep)

	r.ClientKex, r.ClientCiphers = clientDefaults(ctx, e)
	for _, a := range algSets {
		r.Negotiated[a.Name] = map[string]Negotiated{}
		for _, p := range paths {
			// Also the warm-up: the gate dials its pooled connection here.
			r.Negotiated[a.Name][p] = negotiated(ctx, e, a.Name, p)
		}
	}

	if o.wants("cold") {
		progress("cold exec, %d runs per path", o.coldRuns)
		r.Cold["aes"] = coldLatency(ctx, e, "aes", o.coldRuns)
		progress("cold exec with the client's defaults, %d runs per path", o.defRuns)
		r.Cold["default"] = coldLatency(ctx, e, "default", o.defRuns)
	}
	if o.wants("warm") {
		progress("warm exec over ControlMaster, %d runs per path", o.warmRuns)
		if r.Warm, err = warmLatency(ctx, e, "aes", o.warmRuns); err != nil {
			return nil, err
		}
		progress("warm exec over ControlMaster, direct and keyturn alternating, %d runs each", o.pairRuns)
		if r.WarmPair, err = warmPair(ctx, e, "aes", o.pairRuns); err != nil {
			return nil, err
		}
	}
	if o.wants("throughput") {
		for _, a := range algSets {
			progress("throughput, %d MiB per path, %s", o.size>>20, a.Name)
			r.Throughput[a.Name] = throughput(ctx, e, a.Name, o.size, 1)
		}
	}
	if o.wants("concurrency") {
		for _, n := range o.sessions {
			progress("%d concurrent sessions through the gate", n)
			r.Concurrency = append(r.Concurrency, concurrency(ctx, e, n, o.hold))
		}
	}
	// Last: enabling MPA is one-way for this gate.
	if o.wants("approval") {
		progress("approval to execution, %d held requests", o.requests)
		a, err := approvals(ctx, e, o.requests)
		if err != nil {
			fmt.Fprintf(os.Stderr, "keyturnbench: approvals: %v\n", err)
		} else {
			r.Approval = &a
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stopped before the end: %w", err)
	}
	r.Seconds = time.Since(start).Seconds()
	r.Goals = goals(r)
	return r, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "keyturnbench: "+format+"\n", args...)
}
