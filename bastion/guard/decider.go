package guard

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/keyturn/keyturn/bastion/guard/trace"
	"github.com/keyturn/keyturn/policy"
)

// Decider applies a policy and a grant to what a traced tree does.
type Decider struct {
	Policy *policy.Policy
	Target string
	// Granted are the action names the grant covers.
	Granted []string
}

var _ trace.Decider = (*Decider)(nil)

// Exec decides a program about to run.
func (d *Decider) Exec(im trace.Image) *trace.Verdict {
	var args []string
	if len(im.Argv) > 1 {
		args = im.Argv[1:]
	}
	names := []string{path.Base(im.Exe)}
	if len(im.Argv) > 0 && im.Argv[0] != "" {
		if n := path.Base(im.Argv[0]); n != names[0] {
			names = append(names, n)
		}
	}
	var v trace.Verdict
	for _, n := range names {
		d.merge(&v, d.decide(append([]string{n}, args...)))
	}
	return d.verdict(v)
}

// Signal decides a signal sent outside the tree.
func (d *Decider) Signal(s trace.Signal) *trace.Verdict {
	if s.Sig == 0 {
		return nil
	}
	var v trace.Verdict
	d.merge(&v, d.decide([]string{"kill", fmt.Sprintf("-%d", s.Sig), fmt.Sprint(s.Pid)}))
	if len(v.Actions) == 0 && !v.Deny {
		// A policy without a kill action does not gate signals; say so
		// rather than pass it silently.
		return nil
	}
	return d.verdict(v)
}

func (d *Decider) decide(words []string) policy.Decision {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return d.Policy.Decide(policy.Input{Command: strings.Join(q, " "), Target: d.Target})
}

// merge adds the decision's privileged actions to v. Unresolved and
// interactive are the matcher's own limits, not actions: the guard sees
// what an unresolved program goes on to run.
func (d *Decider) merge(v *trace.Verdict, dec policy.Decision) {
	for _, a := range dec.Actions {
		switch {
		case a == policy.UnresolvedAction || a == policy.InteractiveAction:
			continue
		case a.Service == "deny":
			v.Deny = true
		}
		if !slices.Contains(v.Actions, a.Name) {
			v.Actions = append(v.Actions, a.Name)
		}
	}
}

// verdict keeps what the grant does not cover; a deny is never covered.
func (d *Decider) verdict(v trace.Verdict) *trace.Verdict {
	if v.Deny {
		return &v
	}
	var out []string
	for _, a := range v.Actions {
		if !slices.Contains(d.Granted, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return &trace.Verdict{Actions: out}
}
