package policy

import (
	"path"
	"slices"
	"strings"
)

// The matcher sorts every program it meets into one of three kinds, from
// data (catalogue.yaml, extended by a policy's wrappers: and inert: lists):
//
//   - runners (wrappers:) run another program; their grammar says where.
//   - inert programs run nothing from their arguments.
//   - unknown programs are everything else. They pass, unless one of their
//     arguments names a program that would be held: then the line is
//     unresolved, because the gate cannot tell whether the unknown program
//     runs that argument (ip netns exec NS kill 1, prlimit kill 1).

// nameSet is a set of program names, literal or path.Match globs.
type nameSet struct {
	names map[string]bool
	globs []string
}

func newNameSet(l []string) *nameSet {
	s := &nameSet{names: map[string]bool{}}
	s.add(l)
	return s
}

func (s *nameSet) add(l []string) {
	for _, n := range l {
		if isGlob(n) {
			s.globs = append(s.globs, n)
		} else {
			s.names[n] = true
		}
	}
}

func (s *nameSet) clone() *nameSet {
	out := &nameSet{names: make(map[string]bool, len(s.names)), globs: slices.Clone(s.globs)}
	for k := range s.names {
		out.names[k] = true
	}
	return out
}

func (s *nameSet) has(name string) bool {
	if s == nil {
		return false
	}
	if s.names[name] {
		return true
	}
	for _, g := range s.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// full returns the long option o names: itself, or the one listed option it
// is a unique prefix of, as GNU getopt_long reads it. An ambiguous prefix is
// returned as is (getopt rejects it, and an unknown option is read both ways).
func (w *wrapper) full(o string) string {
	if len(o) < 3 || !strings.HasPrefix(o, "--") || len(w.long) == 0 {
		return o
	}
	i, found := slices.BinarySearch(w.long, o)
	if found {
		return o
	}
	if i < len(w.long) && strings.HasPrefix(w.long[i], o) {
		if i+1 < len(w.long) && strings.HasPrefix(w.long[i+1], o) {
			// Ambiguous: if every candidate is read the same way, the
			// reading does not depend on which one getopt would pick.
			k := w.exactKind(w.long[i])
			for j := i + 1; j < len(w.long) && strings.HasPrefix(w.long[j], o); j++ {
				if w.exactKind(w.long[j]) != k {
					return o
				}
			}
		}
		return w.long[i]
	}
	return o
}

// sub finds the subcommand entry a word names, or nil.
func (w *wrapper) sub(name string) *wrapper {
	var hit *wrapper
	for _, sw := range w.subs {
		for _, c := range sw.commands {
			if c == name {
				return sw
			}
			if w.abbrev && strings.HasPrefix(c, name) {
				if hit != nil && hit != sw {
					return nil // ambiguous: the tool refuses it
				}
				hit = sw
			}
		}
	}
	return hit
}

// canonArgs spells out abbreviated subcommands (btrfs sub del is btrfs
// subvolume delete) so that actions match what the tool will do.
func canonArgs(w *wrapper, args []word) []word {
	var out []word
	for i := 0; i < len(args) && w != nil && w.abbrev; i++ {
		a := args[i]
		if !a.ok || strings.HasPrefix(a.text, "-") {
			continue
		}
		sw := w.sub(a.text)
		if sw == nil {
			break
		}
		if sw.commands[0] != a.text {
			if out == nil {
				out = slices.Clone(args)
			}
			out[i].text = sw.commands[0]
		}
		w = sw
	}
	if out == nil {
		return args
	}
	return out
}

// subcommand reads the words of a runner with subcommands from the
// subcommand word on.
func (s *state) subcommand(w *wrapper, name string, rest []word, c call, via []string) {
	sw := rest[0]
	if !sw.ok || !sw.single {
		s.unres(sw, via, "the subcommand of %s is not a literal", name)
		return
	}
	sub := w.sub(sw.text)
	if sub == nil {
		if w.run == runUnresolved {
			s.unres(sw, via, "%s %s is not in the catalogue; %s", name, sw.text,
				orDefault(w.note, "it may run commands the gate cannot read"))
		}
		return
	}
	s.unwrap(sub, name+" "+sub.commands[0], rest, call{words: c.words, lv: c.lv, via: c.via, open: c.open, placeholder: c.placeholder})
}

// privileged reports whether an action or deny rule names the program.
func (s *state) privileged(base string) bool {
	p := s.p
	if _, ok := p.index[base]; ok {
		return true
	}
	for _, ref := range p.globRules {
		for _, c := range ref.rule.Commands {
			if isGlob(c) && globMatch(c, base) {
				return true
			}
		}
	}
	return false
}

// namesProgram reports whether a piece of text names a program that a
// runner or an action cares about (kill, sudo, bash, zfs): the words an
// unknown program might run.
func (s *state) namesProgram(text string) bool {
	start := -1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && nameByte(text[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			tok := text[start:i]
			start = -1
			if s.p.wrappers.lookup(tok) != nil || s.privileged(tok) {
				return true
			}
		}
	}
	return false
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '+'
}

// plainWord reports whether a word is one command name or path, not a
// string a shell would read as several words.
func plainWord(t string) bool {
	return !strings.ContainsAny(t, " \t\n;&|()<>`$'\"\\{}")
}

func (s *state) held() int { return len(s.actions) + len(s.unresolved) + len(s.denies) }

// unknown looks at the arguments of a program that is in no list. Where an
// argument names a program that would be held, the unknown program may run
// it: the line is unresolved, and the action it would be is named too.
func (s *state) unknown(base string, words []word, c call) {
	// What an unknown program may run is a guess: deny rules do not apply
	// (the line is held, and the author can declare the program).
	defer func(g bool) { s.guessing = g }(s.guessing)
	s.guessing = true
	for i := 1; i < len(words); i++ {
		a := words[i]
		if !s.namesProgram(a.text) {
			continue
		}
		if j := strings.IndexByte(a.text, '='); j > 0 && a.ok && strings.HasPrefix(a.text, "-") {
			// --cmd='kill 1': the value is what may run.
			v := valueWord(a, a.text[j+1:])
			a = v
		}
		before := s.held()
		via := append(slices.Clone(c.via), base)
		switch {
		case !a.ok:
			// Part of the word is only known at run time.
		case plainWord(a.text):
			s.analyze(call{words: words[i:], lv: c.lv, via: via, open: true})
		default:
			// Read as a shell line if it is one; text that is not shell
			// (a query, a template) only counts if it names an action.
			lv := subLevel(c.lv, []word{a}, base)
			lv.via = via
			quiet := s.quiet
			s.quiet = true
			if !s.parse(lv) {
				s.guessTokens([]word{a}, c, via)
			}
			s.quiet = quiet
		}
		if !a.ok || s.held() > before {
			s.unres(a, c.via, "%s is in no list, and its argument %q names a program that would be held; "+
				"if %s runs its arguments, declare it under wrappers: with its grammar, if it never does, under inert:",
				base, clip(a.text, 64), base)
			return
		}
	}
}

// clip shortens text for a message.
func clip(t string, n int) string {
	if len(t) <= n {
		return t
	}
	return t[:n] + "..."
}
