package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

type runMode int

const (
	runArgv        runMode = iota // the words after the options are a command
	runString                     // the words after the options, joined, are a shell line
	runFirstString                // the first word after the options is a shell line
	runNone                       // runs nothing by itself
	runUnresolved                 // runs something the gate cannot read
)

var runModes = map[string]runMode{
	"argv": runArgv, "string": runString, "first_string": runFirstString,
	"none": runNone, "unresolved": runUnresolved,
}

// wrapper describes a program that runs another command: how its options are
// laid out and where the command it runs starts.
type wrapper struct {
	commands  []string
	flags     set // options without a value
	withValue set // options whose value is the next word (or -uVALUE, --opt=VALUE)
	operands  int // words before the command that are not options (timeout's DURATION)
	run       runMode
	permute   bool // options may follow operands anywhere (find, su)
	plus      bool // +o style options (sh)

	stringFlags   set // sh -c: the first operand is a shell line
	stringOptions set // su -c LINE: the option's value is a shell line
	execOptions   set // find -exec CMD ... ; : a command follows, up to ; or +
	argv0Options  set // exec -a NAME: NAME is what the program sees as its name
	unresolved    set // options that make the line unresolved (sudo -s)
	noexec        set // options with which nothing runs (command -v)
	replace       set // xargs -I R: words holding R are filled in at run time
	rsh           set // rsync -e CMD: CMD is a remote shell, run with a host and a command

	assignments    bool // NAME=VALUE words before the command (env)
	appendsArgs    bool // more arguments are added at run time (xargs)
	placeholder    string
	containsUnres  []string // words containing these make the line unresolved (awk's system)
	bareUnresolved bool     // with nothing to run, it reads commands from stdin
	note           string

	// subcommands: the first operand names a subcommand with its own
	// grammar (docker exec, kubectl get); a subcommand not listed runs what
	// run: says. abbrev: a unique prefix names a subcommand (btrfs su d).
	subs   []*wrapper
	abbrev bool
	// long lists every long option the entry names, sorted, so that an
	// abbreviation is read as GNU getopt reads it (--split-s is
	// --split-string).
	long    []string
	example string
}

type set map[string]bool

type wrapperSet struct {
	byName map[string]*wrapper
	globs  []globWrapper
}

// globWrapper keeps the literal prefix of a pattern: most names fail on it,
// and path.Match is the costliest part of a decision otherwise.
type globWrapper struct {
	prefix, pat string
	w           *wrapper
}

func globPrefix(pat string) string {
	if i := strings.IndexAny(pat, `*?[\`); i >= 0 {
		return pat[:i]
	}
	return pat
}

func (s *wrapperSet) lookup(name string) *wrapper {
	if w, ok := s.byName[name]; ok {
		return w
	}
	for _, g := range s.globs {
		if !strings.HasPrefix(name, g.prefix) {
			continue
		}
		if ok, _ := path.Match(g.pat, name); ok {
			return g.w
		}
	}
	return nil
}

// with returns a set where the site's wrappers replace built-in ones of the
// same name.
func (s *wrapperSet) with(site []*wrapper) *wrapperSet {
	out := &wrapperSet{byName: make(map[string]*wrapper, len(s.byName)+len(site))}
	for k, v := range s.byName {
		out.byName[k] = v
	}
	out.globs = append(out.globs, s.globs...)
	for _, w := range site {
		for _, c := range w.commands {
			if isGlob(c) {
				out.globs = append([]globWrapper{{globPrefix(c), c, w}}, out.globs...)
			} else {
				out.byName[c] = w
			}
		}
	}
	return out
}

// without returns a set without the named programs (literal names only).
func (s *wrapperSet) without(names []string) *wrapperSet {
	for _, n := range names {
		delete(s.byName, n)
	}
	return s
}

// variables lists environment variables that change what a command line
// runs.
type variables struct {
	unresolved []string // PATH, LD_PRELOAD: what runs depends on them
	command    []string // PAGER, EDITOR: the value is itself a command
}

func (v variables) clone() variables {
	return variables{
		unresolved: append([]string(nil), v.unresolved...),
		command:    append([]string(nil), v.command...),
	}
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

var wrapperFields = []string{
	"command", "flags", "options_with_value", "operands", "run", "permute", "plus_options",
	"string_flags", "string_options", "exec_options", "argv0_options", "unresolved_options",
	"noexec_options", "replace_options", "assignments", "appends_args", "placeholder",
	"unresolved_if_contains", "bare", "note", "subcommands", "abbrev", "example", "rsh_options",
}

func (d *decoder) wrapperList(n *yaml.Node, ctx string) ([]*wrapper, error) {
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, "%s: want a list, got %s", ctx, NodeKind(n))
	}
	var out []*wrapper
	for i, wn := range n.Content {
		w, err := d.wrapper(wn, fmt.Sprintf("%s[%d]", ctx, i))
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// wrapper reads one wrapper entry: the commands it names, its options,
// how it runs its command, its notes and its subcommands.
func (d *decoder) wrapper(n *yaml.Node, ctx string) (*wrapper, error) {
	f, err := d.fields(n, ctx, wrapperFields...)
	if err != nil {
		return nil, err
	}
	w := &wrapper{placeholder: "{}"}
	r := d.reader(n, f, ctx)
	required(r, "command", &w.commands, d.commandList)
	if r.err != nil {
		return nil, r.err
	}
	if err := d.wrapperOptions(f, ctx, w); err != nil {
		return nil, err
	}
	if err := d.wrapperBehaviour(r, w); err != nil {
		return nil, err
	}
	optional(r, "note", &w.note, d.str)
	optional(r, "example", &w.example, d.str)
	optional(r, "abbrev", &w.abbrev, d.boolean)
	optional(r, "subcommands", &w.subs, d.wrapperList)
	if r.err != nil {
		return nil, r.err
	}
	return w, nil
}

// wrapperOptions reads a wrapper entry's option lists into w, and notes
// its long options for abbreviation.
func (d *decoder) wrapperOptions(f map[string]field, ctx string, w *wrapper) error {
	sets := []struct {
		key string
		dst *set
	}{
		{"flags", &w.flags}, {"options_with_value", &w.withValue}, {"string_flags", &w.stringFlags},
		{"string_options", &w.stringOptions}, {"exec_options", &w.execOptions},
		{"argv0_options", &w.argv0Options}, {"unresolved_options", &w.unresolved},
		{"noexec_options", &w.noexec}, {"replace_options", &w.replace}, {"rsh_options", &w.rsh},
	}
	for _, s := range sets {
		// An absent list stays nil: sets are only read, and a nil one
		// holds nothing, so the compiled catalogue allocates no empty
		// maps.
		x, ok := f[s.key]
		if !ok {
			continue
		}
		*s.dst = set{}
		l, err := d.stringList(x.val, ctx+": "+s.key, false)
		if err != nil {
			return err
		}
		for j, o := range l {
			if len(o) < 2 || (o[0] != '-' && o[0] != '+') {
				return d.errf(elem(x.val, j), "%s: %s: %q is not an option (want -x or --name)", ctx, s.key, o)
			}
			(*s.dst)[o] = true
		}
	}
	for _, s := range []set{w.flags, w.withValue, w.stringFlags, w.stringOptions, w.execOptions,
		w.argv0Options, w.unresolved, w.noexec, w.replace, w.rsh} {
		for o := range s {
			if strings.HasPrefix(o, "--") {
				w.long = append(w.long, o)
			}
		}
	}
	slices.Sort(w.long)
	w.long = slices.Compact(w.long)
	return nil
}

// wrapperBehaviour reads how a wrapper entry runs its command: operands,
// run mode, the yes/no switches, the placeholder and when it cannot tell.
func (d *decoder) wrapperBehaviour(r *fieldReader, w *wrapper) error {
	if x := optional(r, "operands", &w.operands, d.integer); x != nil && w.operands < 0 {
		return d.errf(x, "%s: operands: %d is negative", r.ctx, w.operands)
	}
	var run string
	if x := optional(r, "run", &run, d.str); x != nil {
		m, known := runModes[run]
		if !known {
			return d.errf(x, "%s: run: unknown value %q (want argv, string, first_string, none or unresolved)", r.ctx, run)
		}
		w.run = m
	}
	bools := []struct {
		key string
		dst *bool
	}{{"permute", &w.permute}, {"plus_options", &w.plus}, {"assignments", &w.assignments}, {"appends_args", &w.appendsArgs}}
	for _, b := range bools {
		optional(r, b.key, b.dst, d.boolean)
	}
	optional(r, "placeholder", &w.placeholder, d.str)
	optional(r, "unresolved_if_contains", &w.containsUnres, d.plainList)
	var bare string
	if x := optional(r, "bare", &bare, d.str); x != nil {
		switch bare {
		case "allow":
		case "unresolved":
			w.bareUnresolved = true
		default:
			return d.errf(x, "%s: bare: unknown value %q (want allow or unresolved)", r.ctx, bare)
		}
	}
	return r.err
}
