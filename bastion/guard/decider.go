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
	// A file unlinked after the exec reads as "PATH (deleted)".
	names := []string{path.Base(strings.TrimSuffix(im.Exe, " (deleted)"))}
	if len(im.Argv) > 0 && im.Argv[0] != "" {
		if n := path.Base(im.Argv[0]); n != names[0] {
			names = append(names, n)
		}
	}
	var v trace.Verdict
	for _, n := range names {
		d.merge(&v, d.decide(append([]string{n}, args...)))
	}
	if isLoader(path.Base(im.Exe)) || (len(im.Argv) > 0 && isLoader(path.Base(im.Argv[0]))) {
		for _, words := range loaded(args) {
			d.merge(&v, d.decide(words))
		}
	}
	return d.verdict(v)
}

// isLoader reports whether name is a dynamic loader's file name. Run as a
// program (`ld-linux-x86-64.so.2 /sbin/zfs destroy x`), the loader maps the
// program into its own process: no exec of the program is seen.
func isLoader(name string) bool {
	for _, pat := range []string{"ld-*.so*", "ld.so*", "ld64.so*"} {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// Options of glibc's loader that take a value, as separate words.
var loaderValueOpts = map[string]bool{
	"--library-path": true, "--inhibit-rpath": true, "--audit": true, "--preload": true,
	"--argv0": true, "--glibc-hwcaps-prepend": true, "--glibc-hwcaps-mask": true,
}

// loaded returns the command lines a loader's arguments may run. The loader
// reads options until a word it does not know, which is the program; a
// loader of another version knows other options, so every word from the
// first up to the first that does not start with "--" is tried as the
// program, and each --argv0 value as the name it runs under.
func loaded(args []string) [][]string {
	var out [][]string
	var argv0 []string
	for i := 0; i < len(args); i++ {
		rest := args[i+1:]
		out = append(out, append([]string{path.Base(args[i])}, rest...))
		for _, a := range argv0 {
			out = append(out, append([]string{path.Base(a)}, rest...))
		}
		if !strings.HasPrefix(args[i], "--") {
			break
		}
		if loaderValueOpts[args[i]] && i+1 < len(args) {
			if args[i] == "--argv0" {
				argv0 = append(argv0, args[i+1])
			}
			i++
		}
	}
	return out
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
