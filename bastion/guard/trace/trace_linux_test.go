//go:build linux

package trace

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the traced child, as the guard binary does.
func TestMain(m *testing.M) {
	if IsChild() {
		runtime.LockOSThread()
		ChildMain()
	}
	os.Exit(m.Run())
}

// recorder allows everything and remembers what it was asked.
type recorder struct {
	execs   []Image
	signals []Signal
	block   string // block an exec whose argv[0] is this
}

func (r *recorder) Exec(im Image) *Verdict {
	r.execs = append(r.execs, im)
	if len(im.Argv) > 0 && im.Argv[0] == r.block {
		return &Verdict{Actions: []string{"test_action"}}
	}
	return nil
}

func (r *recorder) Signal(s Signal) *Verdict {
	r.signals = append(r.signals, s)
	return &Verdict{Actions: []string{"signal_action"}}
}

func runTraced(t testing.TB, line string, d Decider) *Result {
	t.Helper()
	r, _ := runTracedCPU(t, line, d)
	return r
}

// runTracedCPU also returns the CPU time the tracer thread used: the
// tracer's own cost, whatever else the machine is doing.
func runTracedCPU(t testing.TB, line string, d Decider) (*Result, time.Duration) {
	t.Helper()
	// Run locks this goroutine's thread for good; give it one of its own.
	type out struct {
		r   *Result
		cpu time.Duration
		err error
	}
	c := make(chan out, 1)
	go func() {
		r, err := Run(Config{Argv: []string{"/bin/bash", "--norc", "--noprofile", "-c", line}, Env: os.Environ(), Decider: d})
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		c <- out{r, cpu, err}
	}()
	o := <-c
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.r, o.cpu
}

func TestRunSeesExecs(t *testing.T) {
	rec := &recorder{}
	res := runTraced(t, `/bin/true a b; (exec -a renamed /bin/true); exit 3`, rec)
	if !res.Started || res.Exit != 3 || res.Blocked != nil {
		t.Fatalf("result %+v", res)
	}
	var got []string
	for _, im := range rec.execs {
		got = append(got, strings.Join(im.Argv, " "))
	}
	if strings.Join(got, "|") != "/bin/true a b|renamed" {
		t.Fatalf("execs seen: %q (the shell's own exec is not asked about)", got)
	}
}

func TestRunBlocksAndKills(t *testing.T) {
	rec := &recorder{block: "/bin/echo"}
	res := runTraced(t, `sleep 30 & /bin/echo no; wait`, rec)
	if res.Blocked == nil || res.Blocked.Actions[0] != "test_action" || !strings.HasPrefix(res.Blocked.Observed, "/usr/bin/echo no") && !strings.HasPrefix(res.Blocked.Observed, "/bin/echo no") {
		t.Fatalf("result %+v", res.Blocked)
	}
	if !strings.HasSuffix(res.Blocked.Observed, ", started by bash") {
		t.Fatalf("chain: %q", res.Blocked.Observed)
	}
}

func TestRunSignalOutside(t *testing.T) {
	rec := &recorder{}
	// The test process is outside the tree.
	res := runTraced(t, `kill -TERM `+strconv.Itoa(os.Getpid())+`; echo survived`, rec)
	if res.Blocked == nil || len(rec.signals) != 1 || rec.signals[0].Pid != os.Getpid() || rec.signals[0].Sig != 15 {
		t.Fatalf("result %+v, signals %+v", res.Blocked, rec.signals)
	}
}

// BenchmarkExec500 is the tracer alone (a decider that allows all): 500
// fork+exec of /bin/true.
func BenchmarkExec500(b *testing.B) {
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		b.Run(name, func(b *testing.B) {
			const line = "for i in $(seq 500); do /bin/true; done"
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				if traced {
					_, c := runTracedCPU(b, line, &recorder{})
					cpu += c
				} else if err := runPlain(line); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*500), "ms/exec")
			if traced {
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*500), "tracer-µs/exec")
			}
		})
	}
}

// TestRunReleaseRefuses: a Release that fails kills the child before it
// runs anything of Argv, and Run returns the error; one that succeeds lets
// it run, after Release returned.
func TestRunReleaseRefuses(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	run := func(release func() error) (*Result, error) {
		type out struct {
			r   *Result
			err error
		}
		c := make(chan out, 1)
		go func() {
			r, err := Run(Config{Argv: []string{"/bin/sh", "-c", "touch " + marker}, Env: os.Environ(), Decider: &recorder{}, Release: release})
			c <- out{r, err}
		}()
		o := <-c
		return o.r, o.err
	}
	refused := errors.New("policy did not parse")
	if _, err := run(func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("Run with a failing Release: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the child ran although Release failed")
	}
	released := false
	res, err := run(func() error {
		// The child is traced and waiting: nothing of Argv ran yet.
		if _, err := os.Stat(marker); err == nil {
			t.Error("the child ran before Release")
		}
		released = true
		return nil
	})
	if err != nil || !released || !res.Started || res.Exit != 0 {
		t.Fatalf("Run: %+v, %v (released %v)", res, err, released)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the child did not run after Release")
	}
}

// TestRefuseAnswersWithoutRunning: some calls the tracer answers itself
// (refuse: the call is skipped and returns what the tracer sets), so a pid
// cannot be reused in between. A signal to a zombie child of the tree
// returns 0; prlimit64 setting its limits, which would succeed if it ran,
// returns ESRCH; kill of a pid that does not exist, ESRCH. This checks
// refuse's registers on each architecture: a return value left alone
// would be the call's first argument (the pid), and on arm64, where the
// return value and the first argument share x0, a call that was not
// skipped would run as kill(0, SIGUSR1), signalling the tree's own group.
func TestRefuseAnswersWithoutRunning(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is not installed")
		}
		t.Skip("python3 is not installed")
	}
	out := filepath.Join(t.TempDir(), "out")
	// The child is waited for in /proc, at most 10s, until it is a zombie.
	line := `python3 -c 'import ctypes, resource, signal, subprocess, time
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
c = subprocess.Popen(["/bin/true"])
for i in range(1000):
    if open("/proc/%d/stat" % c.pid).read().rsplit(")", 1)[1].split()[0] == "Z":
        break
    time.sleep(0.01)
else:
    raise SystemExit("the child did not exit")
r = ctypes.CDLL(None).kill(c.pid, signal.SIGUSR1)
time.sleep(0.1)
print("kill", r, "usr1", len(got))
try:
    resource.prlimit(c.pid, resource.RLIMIT_NOFILE, (64, 64))
    print("prlimit ran")
except OSError as e:
    print("prlimit errno", e.errno)
' > ` + out + `; kill -0 999999999 2>/dev/null; echo "kill status $?" >> ` + out
	res := runTraced(t, line, &recorder{})
	if res.Blocked != nil || res.Exit != 0 {
		t.Fatalf("result %+v, blocked %+v", res, res.Blocked)
	}
	b, err := os.ReadFile(out)
	want := "kill 0 usr1 0\nprlimit errno " + strconv.Itoa(int(unix.ESRCH)) + "\nkill status 1\n"
	if err != nil || string(b) != want {
		t.Fatalf("the tree saw %q (%v), want %q", b, err, want)
	}
}
