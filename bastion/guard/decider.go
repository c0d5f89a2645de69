package guard

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/keyturn/keyturn/bastion/guard/trace"
	"github.com/keyturn/keyturn/policy"
)

// Decider applies a policy and a grant to what a traced tree does.
type Decider struct {
	Policy *policy.Policy
	Target string
	// Granted are the action names the grant covers.
	Granted []string

	sigOnce    sync.Once
	sigActions []string // see isSignalAction
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
		runs, ok := loaded(args)
		for _, words := range runs {
			d.merge(&v, d.decide(words))
		}
		if !ok && !slices.Contains(v.Actions, policy.UnresolvedAction.Name) {
			// Which program the loader runs is past what the guard
			// tries: it cannot tell, so approvers must.
			v.Actions = append(v.Actions, policy.UnresolvedAction.Name)
		}
	}
	return d.verdict(v)
}

// maxLoaderOptions bounds the option words [loaded] looks through. The
// loader takes an option more than once, so padding could push the program
// past any bound: a longer run of options is not looked through but held.
const maxLoaderOptions = 16

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

// Options of glibc's loader, as separate words: those that take a value
// and those that do not.
var (
	loaderValueOpts = map[string]bool{
		"--library-path": true, "--inhibit-rpath": true, "--audit": true, "--preload": true,
		"--argv0": true, "--glibc-hwcaps-prepend": true, "--glibc-hwcaps-mask": true,
	}
	loaderFlagOpts = map[string]bool{
		"--list": true, "--verify": true, "--inhibit-cache": true, "--list-tunables": true,
		"--list-diagnostics": true, "--help": true, "--version": true,
	}
)

// loaded returns the command lines a loader's arguments run: the first word
// that is not one of the loader's options is the program, named by its file
// and by each --argv0 value. It reports false when it cannot tell: a word
// starting with "--" that it does not know (another loader version may take
// it as an option with a value, this one as the program's file name), or
// options going on past maxLoaderOptions words.
func loaded(args []string) ([][]string, bool) {
	var argv0 []string
	for i := 0; i < len(args); i++ {
		switch {
		case i >= maxLoaderOptions:
			return nil, false
		case loaderValueOpts[args[i]]:
			if args[i] == "--argv0" && i+1 < len(args) {
				argv0 = append(argv0, args[i+1])
			}
			i++
		case loaderFlagOpts[args[i]]:
		case strings.HasPrefix(args[i], "--"):
			return nil, false
		default:
			rest := args[i+1:]
			out := [][]string{append([]string{path.Base(args[i])}, rest...)}
			for _, a := range argv0 {
				out = append(out, append([]string{path.Base(a)}, rest...))
			}
			return out, true
		}
	}
	return nil, true
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
// what an unresolved program goes on to run. When the matcher could not
// resolve a program (an interpreter's code, an unknown program naming
// another), the actions it names beside unresolved are its guesses from
// the text; a guessed signal action is left to the signal trap, which sees
// the act itself (a block there names the real target), while any other
// guessed action still blocks here: the guard has no trap for it.
func (d *Decider) merge(v *trace.Verdict, dec policy.Decision) {
	guessed := slices.Contains(dec.Actions, policy.UnresolvedAction)
	for _, a := range dec.Actions {
		switch {
		case a == policy.UnresolvedAction || a == policy.InteractiveAction:
			continue
		case a.Service == "deny":
			v.Deny = true
		case guessed && d.isSignalAction(a.Name):
			continue
		}
		if !slices.Contains(v.Actions, a.Name) {
			v.Actions = append(v.Actions, a.Name)
		}
	}
}

// isSignalAction reports whether the policy calls sending a signal to
// another process name: the actions `kill -TERM 1` and `kill -KILL 1` are.
func (d *Decider) isSignalAction(name string) bool {
	d.sigOnce.Do(func() {
		for _, sig := range []string{"-15", "-9"} {
			for _, a := range d.decide([]string{"kill", sig, "1"}).Actions {
				if a != policy.UnresolvedAction && a.Service != "deny" {
					d.sigActions = append(d.sigActions, a.Name)
				}
			}
		}
	})
	return slices.Contains(d.sigActions, name)
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
