package policy

import "testing"

// kill %N signals one of the line's own jobs (bash's job table holds only
// children of that shell), so the shipped kill_process rule names job
// specs in unless_operands: `sleep 2 & kill %1; wait` runs, on a guarded
// target as on a plain one. Every way to reach another process through the
// same words stays held.
func TestKillJobSpecs(t *testing.T) {
	p := shippedPolicy(t)
	for _, line := range []string{
		"sleep 2 & kill %1; wait",
		"kill %1", "kill %%", "kill %+ %-", "kill -9 %1 %2", "kill -TERM %1",
		"kill -- %1", "kill '%1'",
	} {
		if d := p.Decide(Input{Command: line}); d.Verdict != Allow {
			t.Errorf("%q: %v; want allow:\n%s", line, d.Verdict, d.Message())
		}
	}
	for _, line := range []string{
		// A pid beside the job: another process.
		"kill %1 4242", "kill 4242 %1",
		// bash's kill reads every word after its first operand as a pid:
		// -9 here is process group 9.
		"kill %1 -9", "kill %1 -- 4242",
		// An option's value read as an operand: held, never wrongly let go.
		"kill -s TERM %1",
		// Words not seen as literals, or more words than are seen.
		`kill "$x"`, "kill %$(echo 1)", "kill %1 $P", "kill %1 *", "xargs kill %1", "echo 4242 | xargs kill %1",
		// No operand at all (nothing to say it is the line's own job).
		"kill -9",
		// The other kill_process programs do not read job specs.
		"pkill %1", "killall %1",
	} {
		if d := p.Decide(Input{Command: line}); d.Verdict == Allow {
			t.Errorf("%q allowed; want held", line)
		}
	}
}
