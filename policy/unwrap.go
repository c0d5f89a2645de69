package policy

import (
	"strconv"
	"strings"
)

type optKind int

const (
	optUnknown optKind = iota
	optFlag
	optValue
	optStringFlag
	optString
	optExec
	optArgv0
	optReplace
	optNoexec
	optUnresolved
	optRsh
)

func (w *wrapper) kind(o string) optKind { return w.exactKind(w.full(o)) }

// exactKind is the kind of option o as spelled. The first set in this
// order that lists o gives its kind: unresolved first, so that an entry
// listing an option twice fails closed, and options that carry a command
// before plain values and flags.
func (w *wrapper) exactKind(o string) optKind {
	for _, k := range [...]struct {
		set  map[string]bool
		kind optKind
	}{
		{w.unresolved, optUnresolved},
		{w.noexec, optNoexec},
		{w.rsh, optRsh},
		{w.stringOptions, optString},
		{w.argv0Options, optArgv0},
		{w.replace, optReplace},
		{w.execOptions, optExec},
		{w.stringFlags, optStringFlag},
		{w.withValue, optValue},
		{w.flags, optFlag},
	} {
		if k.set[o] {
			return k.kind
		}
	}
	return optUnknown
}

// option reads the option word t: its kind and, for a --name=value the
// wrapper does not know as a whole, the name and the attached value.
func (w *wrapper) option(t string) (k optKind, name, val string, attached bool) {
	k = w.kind(t)
	if k == optUnknown && strings.HasPrefix(t, "--") {
		if j := strings.IndexByte(t, '='); j > 0 {
			return w.kind(t[:j]), t[:j], t[j+1:], true
		}
	}
	return k, t, "", false
}

// takesValue reports whether an option of this kind reads a value.
func (w *wrapper) takesValue(k optKind, o string) bool {
	switch k {
	case optValue, optString, optArgv0, optRsh:
		return true
	case optReplace:
		return w.withValue[o]
	}
	return false
}

func (w *wrapper) isOption(t string) bool {
	if len(t) < 2 {
		return false
	}
	return t[0] == '-' || (w.plus && t[0] == '+')
}

// reading is one way to read a wrapper's words: where the command starts and
// what the options said.
type reading struct {
	start       int // index of the command in args, -1 if none
	stringFlag  bool
	strings     []word
	argv0       []word
	rsh         []word
	noexec      bool
	placeholder string
	unresolved  string
	unresWord   word
}

// maxReadings bounds the readings of one wrapper's options; an option the
// wrapper entry does not know may or may not take the next word as its value,
// and both readings are checked.
const maxReadings = 16

type scanner struct {
	w      *wrapper
	args   []word
	out    []reading
	budget int
}

// valueWord is the value of an option, attached (-uroot, --user=root) or the
// next word.
func valueWord(a word, val string) word {
	v := a
	v.text = val
	v.sw = nil
	v.braced = true // no exact mapping for part of a word
	return v
}

// fail ends reading r as unresolved at word a, for the reason why.
func (sc *scanner) fail(r reading, a word, why string) {
	r.unresolved, r.unresWord = why, a
	sc.out = append(sc.out, r)
}

// scan reads the wrapper's words from args[i] with operands of its
// operands already seen, and adds each way to read them to sc.out: where the
// command starts, and what the options said on the way.
func (sc *scanner) scan(i, operands int, r reading) {
	w, args := sc.w, sc.args
	for i < len(args) {
		a := args[i]
		switch {
		case a.noOpt && a.single && !a.ok, a.ok && a.single && a.text != "--" && !w.isOption(a.text):
			// Never an option, or not one: an operand, or where the
			// command starts.
			if operands < w.operands {
				operands++
				i++
				continue
			}
			r.start = i
			sc.out = append(sc.out, r)
			return
		case !a.ok || !a.single:
			sc.fail(r, a, "a wrapper argument is not a literal, so where the command starts is unknown")
			return
		case a.text == "--":
			next, ok := sc.afterDashDash(i+1, operands, r)
			if !ok {
				return
			}
			sc.end(next, r)
			return
		}
		next, ok := sc.option(i, operands, &r)
		if !ok {
			return
		}
		i = next
	}
	sc.end(i, r)
}

// end adds reading r, whose command starts at args[i]; there is none when
// i is past the last word.
func (sc *scanner) end(i int, r reading) {
	r.start = -1
	if i < len(sc.args) {
		r.start = i
	}
	sc.out = append(sc.out, r)
}

// afterDashDash reads the wrapper's operands left after "--" (args[i]
// on); the command starts after them. ok is false if the reading ended
// unresolved (already in sc.out).
func (sc *scanner) afterDashDash(i, operands int, r reading) (next int, ok bool) {
	for operands < sc.w.operands && i < len(sc.args) {
		if !sc.args[i].ok {
			sc.fail(r, sc.args[i], "a wrapper argument is not a literal")
			return i, false
		}
		operands++
		i++
	}
	return i, true
}

// option reads the option word at args[i] (-x, --name, --name=value, a
// cluster of short options) and its value, if it takes one, into r. It
// returns the index of the next word to read, and false if the reading
// ended unresolved (already in sc.out). An option the wrapper does not
// know may or may not take the next word as its value: both readings are
// followed, the other one by a branch.
func (sc *scanner) option(i, operands int, r *reading) (next int, ok bool) {
	w, args := sc.w, sc.args
	a := args[i]
	t := a.text
	k, name, val, attached := w.option(t)
	if k == optUnknown && !strings.HasPrefix(t, "--") && len(t) > 2 {
		next, unknownLast, ok := sc.cluster(i, r)
		if !ok {
			return i, false
		}
		if unknownLast && next < len(args) && !w.isOption(args[next].text) {
			sc.branch(next+1, operands, *r)
		}
		return next, true
	}
	switch k {
	case optUnresolved:
		sc.fail(*r, a, "option "+name+" of "+w.commands[0])
		return i, false
	case optNoexec:
		r.noexec = true
	case optStringFlag:
		r.stringFlag = true
	case optUnknown:
		if i+1 < len(args) && !attached && !w.isOption(args[i+1].text) {
			sc.branch(i+2, operands, *r)
		}
		return i + 1, true
	}
	switch {
	case w.takesValue(k, name) && attached:
		sc.apply(r, k, valueWord(a, val))
	case w.takesValue(k, name):
		if i+1 >= len(args) {
			return len(args), true // the value is missing: no command
		}
		i++
		v := args[i]
		if !v.single || (!v.ok && k != optValue) {
			sc.fail(*r, v, "the value of "+name+" is not a literal")
			return i, false
		}
		sc.apply(r, k, v)
	case k == optReplace:
		r.placeholder = w.placeholder
		if attached {
			r.placeholder = val
		}
	}
	return i + 1, true
}

// cluster reads the cluster of short options at args[i] (-ec, -uroot,
// -n5) into r. It returns the index of the word after the cluster (and
// after a value taken from the next word), whether the cluster ended with an
// option the wrapper does not know (which may take the next word as its
// value), and false if the reading ended unresolved (already in sc.out).
func (sc *scanner) cluster(i int, r *reading) (next int, unknownLast, ok bool) {
	w, args := sc.w, sc.args
	a := args[i]
	t := a.text
	for j := 1; j < len(t); j++ {
		o := t[:1] + t[j:j+1]
		ko := w.kind(o)
		switch ko {
		case optUnresolved:
			sc.fail(*r, a, "option "+o+" of "+w.commands[0])
			return i, false, false
		case optNoexec:
			r.noexec = true
		case optStringFlag:
			r.stringFlag = true
		case optUnknown:
			unknownLast = j == len(t)-1
		}
		takes := w.takesValue(ko, o)
		if !takes && ko != optReplace {
			continue
		}
		// The option's value is the rest of the word, or else the
		// next word; either way the cluster ends here.
		rest := t[j+1:]
		if rest != "" || !takes {
			sc.apply(r, ko, valueWord(a, rest))
			return i + 1, unknownLast, true
		}
		if i+1 >= len(args) {
			return len(args) + 1, unknownLast, true
		}
		i++
		if v := args[i]; (!v.ok && ko != optValue) || !v.single {
			sc.fail(*r, v, "the value of "+o+" is not a literal")
			return i, false, false
		}
		sc.apply(r, ko, valueWord(args[i], args[i].text))
		return i + 1, unknownLast, true
	}
	return i + 1, unknownLast, true
}

// branch reads the words again from i, as if the unknown option before them
// took a value.
func (sc *scanner) branch(i, operands int, r reading) {
	sc.budget--
	if sc.budget <= 0 {
		if sc.budget == 0 {
			r.unresolved, r.unresWord = "too many ways to read the wrapper's options", sc.args[0]
			sc.out = append(sc.out, r)
		}
		return
	}
	r.strings = append([]word(nil), r.strings...)
	r.argv0 = append([]word(nil), r.argv0...)
	r.rsh = append([]word(nil), r.rsh...)
	sc.scan(i, operands, r)
}

func (sc *scanner) apply(r *reading, k optKind, v word) {
	switch k {
	case optString:
		r.strings = append(r.strings, v)
	case optArgv0:
		r.argv0 = append(r.argv0, v)
	case optRsh:
		r.rsh = append(r.rsh, v)
	case optReplace:
		r.placeholder = v.text
	}
}

// unwrap finds the commands a wrapper runs.
func (s *state) unwrap(w *wrapper, name string, words []word, c call) {
	args := words[1:]
	via := append(append([]string(nil), c.via...), name)
	if len(w.containsUnres) > 0 && !hasNoexec(w, args) {
		for _, a := range args {
			if !a.ok {
				s.unres(a, via, "an argument of %s is not a literal", name)
				return
			}
			lower := strings.ToLower(a.text)
			for _, sub := range w.containsUnres {
				if strings.Contains(lower, sub) {
					s.unres(a, via, "%s with %q may run commands", name, sub)
					return
				}
			}
		}
	}
	if w.readsOnly() {
		// Nothing in its grammar runs anything: its words, literal or
		// not, are only data (kubectl logs $pod).
		return
	}
	if w.permute {
		s.unwrapPermuted(w, name, words, c, via)
		return
	}
	sc := &scanner{w: w, args: args, budget: maxReadings}
	sc.scan(0, 0, reading{start: -1})
	for _, r := range sc.out {
		s.runReading(w, name, words, r, c, via)
	}
}

func (s *state) runReading(w *wrapper, name string, words []word, r reading, c call, via []string) {
	args := words[1:]
	if r.unresolved != "" {
		s.unres(r.unresWord, via, "%s", r.unresolved)
		return
	}
	if r.noexec {
		return
	}
	for _, sw := range r.strings {
		s.parseString(sw, c, via, name)
	}
	for _, rw := range r.rsh {
		s.remoteShell(rw, c, via, name)
	}
	if r.start >= 0 {
		for _, a0 := range r.argv0 {
			// exec -a NAME PROG: a multi-call program such as busybox acts
			// on NAME, so NAME is looked at as a command too.
			inner := append([]word{a0}, args[r.start+1:]...)
			s.analyze(call{words: inner, lv: c.lv, via: via, open: true})
		}
	}
	if r.stringFlag {
		if r.start < 0 {
			s.unres(words[0], via, "%s -c without a command string", name)
			return
		}
		s.parseStringArgs(args[r.start], args[r.start+1:], c, via, name+" -c")
		return
	}
	if len(r.strings) > 0 && w.run != runArgv {
		return
	}
	if len(w.subs) > 0 && r.start >= 0 {
		s.subcommand(w, name, args[r.start:], c, via)
		return
	}
	if r.start < 0 {
		if c.stdin != nil && c.stdin.w.ok && len(w.stringFlags) > 0 {
			// A shell reading a script the line shows (bash <<< 'kill 1').
			s.parse(wordLevel(c, c.stdin.w, via, name+" stdin"))
			if c.stdin.exact {
				return
			}
		} else if c.stdin != nil && c.stdin.w.ok {
			s.guessTokens([]word{c.stdin.w}, c, via)
		}
		if w.bareUnresolved || (w.run == runUnresolved && len(w.subs) == 0) {
			s.unres(words[0], via, "%s", orDefault(w.note, name+" runs commands the gate cannot read"))
		} else if c.open && w.run != runNone && len(w.subs) == 0 && !r.noexec {
			s.unres(words[0], via, "%s runs a command it reads at run time (xargs adds it)", name)
		}
		return
	}
	switch w.run {
	case runArgv:
		inner := args[r.start:]
		if w.assignments {
			inner = s.envAssignments(inner, c, via)
			if inner == nil {
				return
			}
			if len(inner) == 0 {
				if w.bareUnresolved {
					s.unres(words[0], via, "%s", orDefault(w.note, name+" without a command"))
				}
				return
			}
		}
		ph := c.placeholder
		if r.placeholder != "" {
			ph = r.placeholder
		}
		s.analyze(call{words: inner, lv: c.lv, via: via, open: c.open || w.appendsArgs, placeholder: ph})
	case runString:
		inner := args[r.start:]
		for _, a := range inner {
			if !a.ok || !a.single {
				s.unres(a, via, "the command %s runs is not a literal", name)
				return
			}
		}
		s.parse(subLevel(c.lv, inner, name))
	case runFirstString:
		s.parseString(args[r.start], c, via, name)
	case runUnresolved:
		s.unres(words[0], via, "%s", orDefault(w.note, name+" runs code the gate cannot read"))
	}
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// parseStringArgs reads sh -c STRING ARG0 ARG1...: the string sees the
// arguments as $0, $1, ... (bash -c '"$0" 1' kill runs kill).
func (s *state) parseStringArgs(w word, pos []word, c call, via []string, how string) {
	if !s.literal(w, via, "string", how) {
		return
	}
	lv := wordLevel(c, w, via, how)
	for i, p := range pos {
		if i > 9 || strings.Contains(lv.src, "set") || strings.Contains(lv.src, "shift") {
			break // set -- and shift move the arguments
		}
		if p.ok && p.single && safeValue(p.text) {
			lv.binds = append(lv.binds, binding{name: strconv.Itoa(i), vals: []string{p.text}, from: 0, to: len(lv.src) + 1})
		}
	}
	s.parse(lv)
}

// remoteShell reads rsync -e CMD: rsync runs CMD HOST rsync --server ...,
// so CMD is read as the line "CMD HOST true" (ssh's options are checked,
// and anything else than a remote shell is seen for what it is).
func (s *state) remoteShell(w word, c call, via []string, how string) {
	if !s.literal(w, via, "remote shell", how) {
		return
	}
	v := w
	v.text, v.sw, v.braced = w.text+" remote-host true", nil, true
	s.parse(wordLevel(c, v, via, how))
}

// parseString reads one word as a shell line.
func (s *state) parseString(w word, c call, via []string, how string) {
	if s.literal(w, via, "string", how) {
		s.parse(wordLevel(c, w, via, how))
	}
}

// literal reports whether w is one literal word; if not, it is
// unresolved as the what (string, remote shell) that how runs.
func (s *state) literal(w word, via []string, what, how string) bool {
	if !w.ok || !w.single {
		s.unres(w, via, "the %s %s runs is not a literal", what, how)
		return false
	}
	return true
}

// wordLevel is the level that reads word w as the shell line how runs.
func wordLevel(c call, w word, via []string, how string) *level {
	lv := subLevel(c.lv, []word{w}, how)
	lv.via = via
	return lv
}

// envAssignments skips env's NAME=VALUE words, checking the names. It returns
// nil when the line is unresolved.
func (s *state) envAssignments(ws []word, c call, via []string) []word {
	for len(ws) > 0 {
		a := ws[0]
		// env and sudo take any word holding "=" before the command as an
		// assignment, identifier or not (env A.B=1 kill).
		i := strings.IndexByte(a.text, '=')
		if i < 0 {
			return ws
		}
		if !a.ok {
			s.unres(a, via, "env assignment is not a literal")
			return nil
		}
		name := a.text[:i]
		if matchAny(s.p.vars.unresolved, name) {
			s.unres(a, via, "env sets %s, which changes what runs", name)
			return nil
		}
		if matchAny(s.p.vars.command, name) {
			s.parse(sliceLevel(c.lv, a, i+1, name))
		}
		ws = ws[1:]
	}
	return ws
}

// unwrapPermuted handles programs whose options may stand anywhere (find's
// -exec, su's -c).
func (s *state) unwrapPermuted(w *wrapper, name string, words []word, c call, via []string) {
	args := words[1:]
	found := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.noOpt && a.single {
			continue // never an option
		}
		if !a.ok || !a.single {
			s.unres(a, via, "an argument of %s is not a literal and may be an option that runs a command", name)
			return
		}
		t := a.text
		if t == "--" {
			break
		}
		if !w.isOption(t) {
			continue
		}
		k, _, val, attached := w.option(t)
		if k == optUnknown && !strings.HasPrefix(t, "--") && len(t) > 2 {
			for j := 1; j < len(t); j++ {
				o := t[:1] + t[j:j+1]
				ko := w.kind(o)
				if ko == optUnresolved {
					s.unres(a, via, "option %s of %s", o, name)
					return
				}
				if ko == optString {
					found = true
					if rest := t[j+1:]; rest != "" {
						s.parseString(valueWord(a, rest), c, via, name+" "+o)
					} else if i+1 < len(args) {
						i++
						s.parseString(args[i], c, via, name+" "+o)
					}
					break
				}
				if w.takesValue(ko, o) {
					if t[j+1:] == "" {
						i++
					}
					break
				}
			}
			continue
		}
		switch k {
		case optUnresolved:
			s.unres(a, via, "option %s of %s", t, name)
			return
		case optNoexec:
			return
		case optString:
			found = true
			if attached {
				s.parseString(valueWord(a, val), c, via, name+" "+t)
			} else if i+1 < len(args) {
				i++
				s.parseString(args[i], c, via, name+" "+t)
			} else {
				s.unres(a, via, "%s %s without a command string", name, t)
			}
		case optExec:
			found = true
			j := i + 1
			for j < len(args) && !(args[j].ok && (args[j].text == ";" || args[j].text == "+")) {
				j++
			}
			s.analyze(call{words: args[i+1 : j], lv: c.lv, via: append(via, t), open: c.open, placeholder: w.placeholder})
			i = j
		case optValue, optArgv0:
			if !attached {
				i++
			}
		case optRsh:
			v := valueWord(a, val)
			if !attached {
				if i+1 >= len(args) {
					break
				}
				i++
				v = args[i]
			}
			s.remoteShell(v, c, via, name+" "+t)
		}
	}
	if !found && w.run == runUnresolved {
		s.unres(words[0], via, "%s", orDefault(w.note, name+" runs code the gate cannot read"))
	}
}

// hasNoexec reports a literal option with which the program runs nothing
// (git config --get): its other words are only read.
func hasNoexec(w *wrapper, args []word) bool {
	if len(w.noexec) == 0 {
		return false
	}
	for _, a := range args {
		if a.ok && w.noexec[w.full(a.text)] {
			return true
		}
	}
	return false
}

// readsOnly reports an entry that runs nothing whatever its words are: run:
// none, no subcommands, and no option that runs, loads or reads a command.
func (w *wrapper) readsOnly() bool {
	return w.run == runNone && len(w.subs) == 0 && len(w.stringFlags) == 0 && len(w.stringOptions) == 0 &&
		len(w.execOptions) == 0 && len(w.argv0Options) == 0 && len(w.unresolved) == 0 && len(w.rsh) == 0 &&
		!w.bareUnresolved
}
