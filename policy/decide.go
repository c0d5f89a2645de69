package policy

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"mvdan.cc/sh/v3/syntax"
)

// Input is what a client asked the gate to run.
type Input struct {
	Command string // exec command line exactly as the SSH client sent it
	Shell   bool   // interactive shell requested (no command)
	PTY     bool   // a terminal was requested
	Target  string // target host name (actions may be limited to target globs)
}

// Bounds on the work one decision may do. A line that needs more is
// unresolved rather than slow.
const (
	maxDepth = 12  // strings run again inside strings (sh -c "sh -c '...'")
	maxCalls = 400 // commands looked at, through every wrapper and string
)

// state collects what one Decide call finds.
type state struct {
	p          *Policy
	in         Input
	budget     int
	bytes      int // parse budget, see parse
	overBudget bool
	denies     []hit
	actions    []hit
	unresolved []Match
	calls      []seen
	written    map[string]word
	stdin      map[*syntax.CallExpr]*stdinText
	// guessing: looking at what code the gate cannot read may run, to name
	// actions. Deny rules do not apply to a guess: the line is held anyway.
	guessing bool
	quiet    bool   // parse errors are not unresolved: see unknown
	cwdRisk  string // cd went into a persistence directory, or one not known
	cwd      string // where cd went, when known
}

type hit struct {
	idx int
	m   Match
}

// seen is a command that runs, for terminal_allow and for files the line
// writes and then runs.
type seen struct {
	name string
	word word
	args []word
	open bool
}

// call is one command to look at: its words, where they came from, and how
// the program running it changes them.
type call struct {
	words       []word
	lv          *level
	via         []string
	open        bool   // more arguments are added at run time (xargs)
	placeholder string // words containing it are filled in at run time
	stdin       *stdinText
}

// Decide returns what the gate does with in. Deny rules win over everything;
// a privileged action holds; what cannot be resolved gets the policy's
// unresolved verdict; a shell or a terminal gets its shell verdict. Decide
// does no I/O and is safe for concurrent use.
//
// An action's args match the command's leading arguments in order. Words
// starting with "-" are options and skipped unless an arg names them; the word
// right after an option is skipped too when it does not match, since it may be
// the option's value ("systemctl -s KILL kill x" matches args [kill]). Any
// other word that does not match ends the match. "--" ends the options.
func (p *Policy) Decide(in Input) Decision {
	s := &state{p: p, in: in, budget: maxCalls, bytes: 8*len(in.Command) + 4096}
	if in.Shell {
		d := s.decision()
		return p.withShell(d, Match{Action: InteractiveAction.Name, Note: "interactive shell requested"})
	}
	s.parse(&level{src: in.Command})
	s.checkWritten()
	if len(s.unresolved) > 0 && len(s.actions) == 0 && len(s.denies) == 0 {
		// Unresolved, and nothing named: look for a privileged program
		// named anywhere in the line (set -- kill 1; "$@"), so approvers
		// see what it may be.
		all := word{text: in.Command, end: len(in.Command), ok: true, single: true}
		s.guessTokens([]word{all}, call{lv: &level{src: in.Command}}, []string{"named in the line"})
	}
	d := s.decision()
	if in.PTY && !s.terminalAllowed() {
		return p.withShell(d, Match{Action: InteractiveAction.Name,
			Note: "a terminal was requested and the line is not in terminal_allow"})
	}
	return d
}

func (p *Policy) withShell(d Decision, why Match) Decision {
	if d.Verdict == Deny {
		return d
	}
	if d.Verdict == Allow {
		d.Quorum = p.defaults.RequiredApprovals
		d.PendingTTL, d.ApprovalTTL = p.defaults.PendingTTL, p.defaults.ApprovalTTL
		d.ReasonRequired = p.defaults.ReasonRequired
	}
	d.Verdict = stricter(d.Verdict, p.shell)
	d.Actions = addRef(d.Actions, InteractiveAction)
	d.Why = append(d.Why, why)
	return d
}

func addRef(refs []ActionRef, r ActionRef) []ActionRef {
	if slices.Contains(refs, r) {
		return refs
	}
	refs = append(refs, r)
	slices.SortFunc(refs, func(a, b ActionRef) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Service, b.Service))
	})
	return refs
}

func (s *state) decision() Decision {
	d := s.decide()
	d.Why = boundWhy(d.Why)
	return d
}

func (s *state) decide() Decision {
	p := s.p
	if len(s.denies) > 0 {
		d := Decision{Verdict: Deny}
		for _, h := range s.denies {
			d.Actions = addRef(d.Actions, ActionRef{Name: p.deny[h.idx].name, Service: "deny"})
			d.Why = appendMatch(d.Why, h.m)
		}
		return d
	}
	d := Decision{Verdict: Allow}
	first := true
	for _, h := range s.actions {
		a := p.actions[h.idx]
		d.Actions = addRef(d.Actions, ActionRef{Name: a.Name, Service: a.Service})
		d.Why = appendMatch(d.Why, h.m)
		d.Verdict = stricter(d.Verdict, Hold)
		d.Quorum = max(d.Quorum, a.RequiredApprovals)
		d.ReasonRequired = d.ReasonRequired || a.ReasonRequired
		if first {
			d.PendingTTL, d.ApprovalTTL, first = a.PendingTTL, a.ApprovalTTL, false
		} else {
			d.PendingTTL, d.ApprovalTTL = min(d.PendingTTL, a.PendingTTL), min(d.ApprovalTTL, a.ApprovalTTL)
		}
	}
	if len(s.unresolved) > 0 {
		d.Actions = addRef(d.Actions, UnresolvedAction)
		for _, m := range s.unresolved {
			d.Why = appendMatch(d.Why, m)
		}
		d.Verdict = stricter(d.Verdict, p.unresolved)
		df := p.defaults
		d.Quorum = max(d.Quorum, df.RequiredApprovals)
		d.ReasonRequired = d.ReasonRequired || df.ReasonRequired
		d.PendingTTL, d.ApprovalTTL = minTTL(d.PendingTTL, df.PendingTTL, first), minTTL(d.ApprovalTTL, df.ApprovalTTL, first)
	}
	d.Approvers = p.approverRules(d.Actions)
	return d
}

func minTTL(cur, def time.Duration, unset bool) time.Duration {
	if unset {
		return def
	}
	return min(cur, def)
}

func appendMatch(ms []Match, m Match) []Match {
	for _, o := range ms {
		if o.Action == m.Action && o.Rule == m.Rule && o.Note == m.Note && slices.Equal(o.Words, m.Words) {
			return ms
		}
	}
	return append(ms, m)
}

// unres records that the line cannot be resolved statically.
func (s *state) unres(w word, via []string, format string, args ...any) {
	if len(s.unresolved) > 4*maxWhy {
		return // the decision is made; more reasons are not shown anyway
	}
	note := "unresolved: " + fmt.Sprintf(format, args...)
	if len(via) > 0 {
		note += " (via " + strings.Join(via, ", ") + ")"
	}
	s.unresolved = append(s.unresolved, Match{Action: UnresolvedAction.Name, Words: []Word{w.pub()}, Note: note})
}

// Bounds on what a decision explains: a line of 258 KB of nested $(...)
// must not put hundreds of copies of itself in the log. A word is told by
// its offsets; its text is cut short.
const (
	maxWhy      = 32
	maxWordText = 200
)

func (w word) pub() Word { return Word{Text: clip(w.text, maxWordText), Offset: w.off, End: w.end} }

// boundWhy keeps the first maxWhy reasons and says how many were left out.
func boundWhy(why []Match) []Match {
	if len(why) <= maxWhy {
		return why
	}
	n := len(why) - (maxWhy - 1)
	why = why[:maxWhy-1]
	return append(why, Match{Action: why[0].Action, Note: fmt.Sprintf("%d more reasons not shown", n)})
}

// commandName returns the name a command word runs, or why it cannot be
// known: a program given by a path is only trusted in trusted_paths.
func (s *state) commandName(text string) (string, string) {
	if !strings.Contains(text, "/") {
		return text, ""
	}
	clean := path.Clean(text)
	if !path.IsAbs(clean) {
		return "", fmt.Sprintf("relative path %q is outside trusted_paths", text)
	}
	if !s.p.trusted[path.Dir(clean)] {
		return "", fmt.Sprintf("path %q is outside trusted_paths", clean)
	}
	return path.Base(clean), ""
}

// analyze looks at one command that will run.
func (s *state) analyze(c call) {
	if len(c.words) == 0 {
		return
	}
	s.budget--
	if s.budget < 0 {
		if s.budget == -1 {
			s.unres(c.words[0], c.via, "the line runs too many commands to check")
		}
		return
	}
	words := c.words
	if c.placeholder != "" {
		words = slices.Clone(words)
		for i := range words {
			if strings.Contains(words[i].text, c.placeholder) {
				words[i].ok = false
			}
		}
	}
	name := words[0]
	if !name.ok {
		s.unres(name, c.via, "command name is not a literal")
		s.guessName(name, words[1:], c)
		return
	}
	base, why := s.commandName(name.text)
	if why != "" {
		s.unres(name, c.via, "%s", why)
		return
	}
	args := words[1:]
	w := s.p.wrappers.lookup(base)
	if w != nil && w.abbrev {
		args = canonArgs(w, args)
	}
	s.calls = append(s.calls, seen{name: base, word: name, args: args, open: c.open})
	s.matchRules(base, name, args, c)
	s.noteWrites(base, args, c)
	if s.builtin(base, words, c) {
		return
	}
	if base == "sed" || base == "gsed" {
		s.sedScript(base, args, c)
	}
	if base == "runuser" && runuserArgv(args) {
		w = s.p.wrappers.lookup("runuser -u")
	}
	switch {
	case w != nil:
		before := len(s.unresolved)
		s.unwrap(w, base, words, c)
		if len(s.unresolved) > before && c.depth() < 2 {
			s.guessTokens(args, c, append(slices.Clone(c.via), base))
		}
	case s.p.inert.has(base), s.privileged(base):
	default:
		s.unknown(base, words, c)
	}
}

func (c call) depth() int {
	if c.lv == nil {
		return 0
	}
	return c.lv.depth
}

// runuserArgv reports runuser -u USER: then what follows is a command, not
// su's grammar.
func runuserArgv(args []word) bool {
	for _, a := range args {
		if a.text == "--" || !strings.HasPrefix(a.text, "-") {
			return false
		}
		if a.text == "-u" || strings.HasPrefix(a.text, "--user") || (strings.HasPrefix(a.text, "-u") && !strings.HasPrefix(a.text, "--")) {
			return true
		}
	}
	return false
}

type argResult int

const (
	argsNo argResult = iota
	argsYes
	argsMaybe
)

// matchArgs matches a rule's args against a command's arguments; see Decide.
// It returns the indexes of the words that matched.
func matchArgs(pats []string, args []word, open bool) (argResult, []int) {
	if len(pats) == 0 {
		return argsYes, nil
	}
	var idx []int
	i, prevOpt, endOpts := 0, false, false
	for j, a := range args {
		if i == len(pats) {
			break
		}
		if !a.ok {
			return argsMaybe, idx
		}
		if globMatch(pats[i], a.text) {
			idx = append(idx, j)
			i++
			prevOpt = false
			continue
		}
		if !endOpts && a.text == "--" {
			endOpts, prevOpt = true, false
			continue
		}
		if !endOpts && len(a.text) > 1 && a.text[0] == '-' {
			prevOpt = !strings.Contains(a.text, "=")
			continue
		}
		if prevOpt {
			prevOpt = false
			continue
		}
		return argsNo, nil
	}
	if i == len(pats) {
		return argsYes, idx
	}
	if open {
		return argsMaybe, idx
	}
	return argsNo, nil
}

// unless reports whether an option before the first operand makes the
// command harmless (kill -l). Only literal words count.
func unless(pats []string, args []word) bool {
	if len(pats) == 0 {
		return false
	}
	for _, a := range args {
		if !a.ok || a.text == "--" || len(a.text) < 2 || a.text[0] != '-' {
			return false
		}
		if matchAny(pats, a.text) {
			return true
		}
	}
	return false
}

// onlyOperands reports whether the command has operands and every one is a
// literal matching one of pats (kill %1: a job of the line's own shell).
// Options are skipped only before the first operand and before "--": bash's
// kill reads every word after its first operand as a pid, so in
// `kill %1 -9` the -9 is process group 9, an operand that fails the match.
// A word that is not a literal, or arguments that may go on past what is
// seen (open), never qualify. An option's value read as an operand (kill
// -s TERM %1) fails the match too, and the command stays held: wrong only
// towards holding.
func onlyOperands(pats []string, args []word, open bool) bool {
	if len(pats) == 0 || open {
		return false
	}
	operands, options := 0, true
	for _, a := range args {
		if !a.ok {
			return false
		}
		if options {
			if a.text == "--" {
				options = false
				continue
			}
			if len(a.text) > 1 && a.text[0] == '-' {
				continue
			}
			options = false
		}
		if !matchAny(pats, a.text) {
			return false
		}
		operands++
	}
	return operands > 0
}

// matchWith finds an argument, anywhere, that matches one of pats.
func matchWith(pats []string, args []word, open bool) (argResult, []int) {
	maybe := open
	for j, a := range args {
		if !a.ok {
			maybe = true
			continue
		}
		for _, p := range pats {
			if globMatch(p, a.text) {
				return argsYes, []int{j}
			}
		}
	}
	if maybe {
		return argsMaybe, nil
	}
	return argsNo, nil
}

func globMatch(pat, s string) bool {
	if !isGlob(pat) {
		return pat == s
	}
	ok, _ := path.Match(pat, s)
	return ok
}

func (s *state) targetOK(globs []string) bool {
	if len(globs) == 0 || s.in.Target == "" {
		// An action limited to some targets still applies when the gate
		// does not say which target it is: failing closed.
		return true
	}
	return matchAny(globs, s.in.Target)
}

func (s *state) matchRules(base string, name word, args []word, c call) {
	p := s.p
	try := func(ref ruleRef) {
		var targets []string
		if ref.kind == kindDeny {
			targets = p.deny[ref.idx].targets
		} else {
			targets = p.actions[ref.idx].Targets
		}
		if !s.targetOK(targets) {
			return
		}
		res, idx := matchArgs(ref.rule.Args, args, c.open)
		if res == argsNo || unless(ref.rule.Unless, args) || onlyOperands(ref.rule.UnlessOperands, args, c.open) {
			return
		}
		if len(ref.rule.With) > 0 {
			wr, wi := matchWith(ref.rule.With, args, c.open)
			if wr == argsNo {
				return
			}
			if wr == argsMaybe {
				res = argsMaybe
			}
			idx = append(idx, wi...)
		}
		m := Match{Rule: ref.rule.ID, Words: []Word{name.pub()}}
		for _, i := range idx {
			m.Words = append(m.Words, args[i].pub())
		}
		var notes []string
		if len(c.via) > 0 {
			notes = append(notes, "via "+strings.Join(c.via, ", "))
		}
		if res == argsMaybe {
			notes = append(notes, "may match: an argument is not known until run time")
		}
		m.Note = strings.Join(notes, "; ")
		if ref.kind == kindDeny && s.guessing {
			// A guess at what code may run is held, not denied: the line
			// only may do what the rule forbids.
			m.Action = UnresolvedAction.Name
			m.Note = strings.TrimPrefix(m.Note+"; may run what deny rule "+p.deny[ref.idx].name+" forbids", "; ")
			s.unresolved = append(s.unresolved, m)
			return
		}
		if ref.kind == kindDeny {
			// A deny rule that may match is a deny: approval cannot make
			// it safe.
			m.Action = p.deny[ref.idx].name
			s.denies = append(s.denies, hit{idx: ref.idx, m: m})
			return
		}
		m.Action = p.actions[ref.idx].Name
		if res == argsMaybe {
			s.unresolved = append(s.unresolved, m)
			s.actions = append(s.actions, hit{idx: ref.idx, m: m})
			return
		}
		s.actions = append(s.actions, hit{idx: ref.idx, m: m})
	}
	for _, ref := range p.index[base] {
		try(ref)
	}
	for _, ref := range p.globRules {
		for _, c := range ref.rule.Commands {
			if isGlob(c) && globMatch(c, base) {
				try(ref)
				break
			}
		}
	}
}

// terminalAllowed reports whether every command on the line is one the
// policy lets run with a terminal.
func (s *state) terminalAllowed() bool {
	if len(s.unresolved) > 0 || len(s.calls) == 0 || len(s.p.terminalAllow) == 0 {
		return false
	}
	for _, c := range s.calls {
		ok := false
		for _, r := range s.p.terminalAllow {
			if !slices.ContainsFunc(r.Commands, func(g string) bool { return globMatch(g, c.name) }) {
				continue
			}
			if res, _ := matchArgs(r.Args, c.args, c.open); res == argsYes {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
