package policy

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Values the line gives its variables, where the matcher can be sure of
// them: `for h in web1 web2; do ssh "$h" uptime; done` runs ssh on web1 and
// on web2, and `c=kill; $c 1` runs kill. Everything else about variables
// stays unknown (unresolved where it matters).

// binding is what a variable holds between two offsets of a level's source.
type binding struct {
	name     string
	vals     []string
	from, to int
}

// maxBindValues bounds the values a loop variable is followed through; a
// longer list leaves the variable unknown.
const maxBindValues = 16

func (lv *level) lookup(name string, at int) []string {
	if v, ok := lv.pick[name]; ok {
		return []string{v}
	}
	for i := len(lv.binds) - 1; i >= 0; i-- {
		b := lv.binds[i]
		if b.name == name && at >= b.from && at < b.to {
			return b.vals
		}
	}
	return nil
}

// safeValue reports whether a value reads the same quoted and unquoted: no
// field splitting and no globbing can change it.
func safeValue(v string) bool {
	return v != "" && !strings.ContainsAny(v, " \t\n*?[]\\$`'\"{}~")
}

// simpleParam returns the name of a plain $x or ${x}, or "".
func simpleParam(p *syntax.ParamExp) string {
	if p == nil || p.Param == nil || p.Excl || p.Length || p.Width || p.Index != nil || p.Slice != nil ||
		p.Repl != nil || p.Names != 0 || p.Exp != nil {
		return ""
	}
	return p.Param.Value
}

// boundValue resolves a parameter expansion the line has bound to one value.
func boundValue(p *syntax.ParamExp, lv *level) (string, bool) {
	name := simpleParam(p)
	if name == "" || len(lv.binds) == 0 && len(lv.pick) == 0 {
		return "", false
	}
	vals := lv.lookup(name, int(p.Pos().Offset()))
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// multiBound lists the variables with several values that a command's words
// use, so the command can be looked at once per value.
func multiBound(n *syntax.CallExpr, lv *level) []binding {
	if len(lv.binds) == 0 {
		return nil
	}
	var out []binding
	syntax.Walk(n, func(m syntax.Node) bool {
		switch m := m.(type) {
		case *syntax.CmdSubst, *syntax.ProcSubst:
			return false
		case *syntax.ParamExp:
			name := simpleParam(m)
			if name == "" || slices.ContainsFunc(out, func(b binding) bool { return b.name == name }) {
				return true
			}
			if _, picked := lv.pick[name]; picked {
				return true
			}
			if vals := lv.lookup(name, int(m.Pos().Offset())); len(vals) > 1 {
				out = append(out, binding{name: name, vals: vals})
			}
		}
		return true
	})
	return out
}

// onlyReads reports whether every appearance of name in src is a plain
// read: $name, ${name}, -name (an option letter) or a name read in
// arithmetic. Anything else (name=..., read name, printf -v name, printf
// -vname, trap 'name=...', ${name:=x}, declare -n r=name, ((name++))) may
// change it, so a value the matcher saw set cannot be trusted.
func onlyReads(src, name string) bool {
	for i := 0; ; {
		j := strings.Index(src[i:], name)
		if j < 0 {
			return true
		}
		j += i
		end := j + len(name)
		i = end
		if end < len(src) && isNameByte(src[end]) {
			continue // the start of a longer word
		}
		if j > 0 && isNameByte(src[j-1]) {
			// The end of a longer word: harmless unless an option
			// cluster with the name attached (printf -vname).
			k := j
			for k > 0 && isNameByte(src[k-1]) {
				k--
			}
			if k > 0 && src[k-1] == '-' {
				return false
			}
			continue
		}
		switch {
		case j > 0 && src[j-1] == '$':
			continue
		case j > 1 && src[j-2:j] == "${" && end < len(src) && src[end] == '}':
			continue
		case j > 0 && src[j-1] == '-' && (j < 2 || src[j-2] != '-'):
			continue
		}
		if inArith(src[:j]) && !arithWrite(src, j, end) {
			continue
		}
		return false
	}
}

// inArith reports whether the text before a point leaves an (( open.
func inArith(before string) bool {
	return strings.Count(before, "((") > strings.Count(before, "))")
}

// arithWrite reports whether the name at src[j:end] is assigned in
// arithmetic: name=, name+=, name++, ++name...
func arithWrite(src string, j, end int) bool {
	after := strings.TrimLeft(src[end:], " \t")
	before := strings.TrimRight(src[:j], " \t")
	if strings.HasSuffix(before, "++") || strings.HasSuffix(before, "--") {
		return true
	}
	if strings.HasPrefix(after, "++") || strings.HasPrefix(after, "--") || strings.HasPrefix(after, "[") {
		return true
	}
	if strings.HasPrefix(after, "==") {
		return false
	}
	for _, op := range []string{"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="} {
		if strings.HasPrefix(after, op) {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// bindLoop binds a for loop's variable in its body when the loop runs over
// literal words.
func (s *state) bindLoop(fc *syntax.ForClause, lv *level) {
	it, ok := fc.Loop.(*syntax.WordIter)
	if !ok || it.Name == nil || !it.InPos.IsValid() || len(it.Items) == 0 {
		return
	}
	var vals []string
	for _, item := range it.Items {
		for _, w := range resolve(item, lv, nil) {
			if !w.ok || !w.single || !safeValue(w.text) {
				return
			}
			vals = append(vals, w.text)
		}
	}
	if len(vals) > maxBindValues {
		return
	}
	body := lv.srcOf(fc)
	if i := strings.Index(body, " do"); i >= 0 {
		body = body[i:]
	}
	if !onlyReads(body, it.Name.Value) {
		return
	}
	lv.binds = append(lv.binds, binding{name: it.Name.Value, vals: vals,
		from: int(fc.Pos().Offset()), to: int(fc.End().Offset())})
}

// bindSequential binds NAME=LITERAL statements of a level's top-level list
// for the statements after them, when nothing else in the level assigns the
// name: c=kill; $c 1 runs kill.
func (s *state) bindSequential(f *syntax.File, lv *level) {
	for _, st := range f.Stmts {
		ce, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(ce.Args) > 0 || st.Background || st.Coprocess || st.Negated || len(st.Redirs) > 0 {
			continue
		}
		for _, a := range ce.Assigns {
			if a.Append || a.Naked || a.Index != nil || a.Array != nil || a.Value == nil || a.Name == nil {
				continue
			}
			ws := resolve(a.Value, lv, nil)
			if len(ws) != 1 || !ws[0].ok || !safeValue(ws[0].text) {
				continue
			}
			at := int(a.Pos().Offset())
			src := lv.src[:at] + strings.Repeat(" ", len(a.Name.Value)) + lv.src[at+len(a.Name.Value):]
			if !onlyReads(src, a.Name.Value) || matchAny(s.p.vars.unresolved, a.Name.Value) {
				continue
			}
			lv.binds = append(lv.binds, binding{name: a.Name.Value, vals: []string{ws[0].text},
				from: int(st.End().Offset()), to: len(lv.src) + 1})
		}
	}
}

// fixedOutput reports whether a command substitution prints one word that
// cannot start with "-" and holds no blank: date +%F, hostname, uname -r.
// A word that starts with a literal and holds only such substitutions can
// never become an option (tar czf /tmp/etc-$(date +%F).tgz /etc).
func fixedOutput(cs *syntax.CmdSubst) bool {
	if len(cs.Stmts) != 1 {
		return false
	}
	ce, ok := cs.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(ce.Assigns) > 0 || len(ce.Args) == 0 || len(cs.Stmts[0].Redirs) > 0 {
		return false
	}
	var args []string
	for _, a := range ce.Args {
		l, ok := litText(a)
		if !ok {
			return false
		}
		args = append(args, l)
	}
	switch args[0] {
	case "date":
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "+") {
				if strings.ContainsAny(a, " \t\n") || dateSeparates(a) {
					return false
				}
				continue
			}
			if a != "-u" && a != "--utc" {
				return false
			}
		}
		return true
	case "hostname", "whoami", "nproc", "arch", "hostid":
		for _, a := range args[1:] {
			if a != "-s" && a != "-f" && a != "--short" && a != "--fqdn" {
				return false
			}
		}
		return true
	case "uname":
		return len(args) == 2 && (args[1] == "-r" || args[1] == "-n" || args[1] == "-m" || args[1] == "-s")
	case "id":
		return len(args) == 2 && (args[1] == "-u" || args[1] == "-un" || args[1] == "-g" || args[1] == "-gn")
	}
	return false
}

// dateSeparates reports a date format with %n or %t: a newline or tab in
// the output splits the word, and the next field may start with "-".
func dateSeparates(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(f) && strings.IndexByte("-_0^#:123456789", f[j]) >= 0 {
			j++
		}
		if j < len(f) && (f[j] == 'n' || f[j] == 't') {
			return true
		}
		i = j
	}
	return false
}

// litText is the text of a word made only of literals and quotes.
func litText(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if strings.ContainsAny(p.Value, "*?[\\~") {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok || strings.ContainsAny(l.Value, "\\") {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// guessName finds the programs a command name only known at run time may
// be: ${X:-kill} is kill unless X is set, /usr/bin/k?ll matches kill. The
// line stays unresolved; the guesses name the action for the approvers.
func (s *state) guessName(name word, args []word, c call) {
	var cands []string
	if name.sw != nil && len(name.sw.Parts) == 1 {
		pe, _ := name.sw.Parts[0].(*syntax.ParamExp)
		if dq, ok := name.sw.Parts[0].(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
			pe, _ = dq.Parts[0].(*syntax.ParamExp)
		}
		if pe != nil && pe.Exp != nil && pe.Exp.Word != nil {
			switch pe.Exp.Op {
			case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull,
				syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
				if l, ok := litText(pe.Exp.Word); ok {
					cands = append(cands, l)
				}
			}
		}
	}
	if strings.ContainsAny(name.text, "*?[") && !strings.ContainsAny(name.text, "$`") {
		pat := name.text[strings.LastIndexByte(name.text, '/')+1:]
		if _, err := pathMatch(pat, ""); err == nil {
			for prog := range s.p.index {
				if ok, _ := pathMatch(pat, prog); ok {
					cands = append(cands, prog)
				}
			}
			slices.Sort(cands)
		}
	}
	defer func(g bool) { s.guessing = g }(s.guessing)
	s.guessing = true
	for i, cand := range cands {
		if i >= 8 || cand == "" {
			break
		}
		w := name
		w.text, w.ok, w.single = cand, true, true
		s.analyze(call{words: append([]word{w}, args...), lv: c.lv, via: append(slices.Clone(c.via), "may be "+cand), open: c.open})
	}
}

// guessTokens looks for privileged programs named inside code the gate
// cannot read (python -c 'os.kill(1, 9)', awk's system("...")), to name
// the action the line may perform. The line is unresolved anyway.
func (s *state) guessTokens(args []word, c call, via []string) {
	defer func(g bool) { s.guessing = g }(s.guessing)
	s.guessing = true
	budget := 8
	for _, a := range args {
		if !a.ok || budget <= 0 {
			continue
		}
		toks := tokens(a.text)
		for i, t := range toks {
			if budget <= 0 {
				break
			}
			base := t[strings.LastIndexByte(t, '/')+1:]
			if base == "" || !s.privileged(base) {
				continue
			}
			budget--
			ws := make([]word, 0, len(toks)-i)
			for _, t := range toks[i:] {
				w := a
				w.text, w.sw, w.braced = t, nil, true
				ws = append(ws, w)
			}
			ws[0].text = base
			s.analyze(call{words: ws, lv: c.lv, via: append(slices.Clone(via), "named in code"), open: true})
		}
	}
}

// tokens splits code into the words a program name and its arguments could
// be: runs of letters, digits and - _ / @ % : = +.
func tokens(t string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(t); i++ {
		if i < len(t) {
			c := t[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '-' || c == '_' || c == '/' || c == '@' || c == '%' || c == '+' {
				if start < 0 {
					start = i
				}
				continue
			}
		}
		if start >= 0 {
			out = append(out, t[start:i])
			start = -1
			if len(out) > 256 {
				return out
			}
		}
	}
	return out
}

// arithmetic: bash evaluates a variable's value as an expression, again and
// again, and an expression may index an array with $(...): a variable whose
// value the line does not show is code. Integers, and variables the line
// sets to integers or only changes by arithmetic, are safe.
func (s *state) arith(n syntax.Node, lv *level) {
	if n == nil {
		return
	}
	syntax.Walk(n, func(m syntax.Node) bool {
		switch m := m.(type) {
		case *syntax.CmdSubst:
			if !fixedOutput(m) {
				s.unresNode(m, lv, "arithmetic on the output of a command: bash evaluates it as code")
			}
			return false
		case *syntax.ParamExp:
			s.arithParam(m, lv)
			return false
		case *syntax.BinaryArithm:
			if m.Op == syntax.Assgn {
				// x=EXPR sets x: only EXPR is read.
				if _, ok := m.X.(*syntax.Word); ok {
					s.arith(m.Y, lv)
					return false
				}
			}
		case *syntax.Word:
			// A bare name in arithmetic is a variable.
			if l := m.Lit(); l != "" && syntax.ValidName(l) {
				s.arithVar(l, m, lv)
			}
		}
		return true
	})
}

// integerVars are variables bash itself keeps as integers.
var integerVars = map[string]bool{
	"#": true, "?": true, "$": true, "!": true, "RANDOM": true, "SRANDOM": true, "SECONDS": true,
	"LINENO": true, "BASHPID": true, "PPID": true, "UID": true, "EUID": true, "EPOCHSECONDS": true,
	"SHLVL": true, "OPTIND": true, "COLUMNS": true, "LINES": true, "HISTCMD": true,
}

func (s *state) arithParam(p *syntax.ParamExp, lv *level) {
	if p.Length {
		return // ${#x} is a number
	}
	if p.Param == nil {
		return
	}
	s.arithVar(p.Param.Value, p, lv)
}

func (s *state) arithVar(name string, n syntax.Node, lv *level) {
	if integerVars[name] {
		return
	}
	if vals := lv.lookup(name, int(n.Pos().Offset())); len(vals) > 0 {
		for _, v := range vals {
			if _, err := strconv.ParseInt(v, 0, 64); err != nil {
				s.unresNode(n, lv, "arithmetic on %s, whose value %q bash evaluates as code", name, clip(v, 32))
				return
			}
		}
		return
	}
	if s.arithOnly(name, int(n.Pos().Offset()), lv) {
		return
	}
	s.unresNode(n, lv, "arithmetic on %s, whose value is only known at run time; bash evaluates it as code", name)
}

// arithOnly reports whether every value the level gives a name comes from
// arithmetic or an integer literal (for ((i=0; i<3; i++)), n=5; $((n+1))),
// and one is given before the use at offset use: then its value is a number.
func (s *state) arithOnly(name string, use int, lv *level) bool {
	if lv.file == nil {
		return false
	}
	set, other := false, false
	number := func(n syntax.Node) {
		if int(n.Pos().Offset()) < use {
			set = true
		}
	}
	syntax.Walk(lv.file, func(m syntax.Node) bool {
		if other {
			return false
		}
		switch m := m.(type) {
		case *syntax.Assign:
			if m.Name == nil || m.Name.Value != name {
				return true
			}
			if m.Value == nil {
				other = other || !m.Naked
				return true
			}
			if l := m.Value.Lit(); l != "" {
				if _, err := strconv.ParseInt(l, 0, 64); err == nil {
					number(m)
					return true
				}
			}
			if len(m.Value.Parts) == 1 {
				if _, isArith := m.Value.Parts[0].(*syntax.ArithmExp); isArith {
					number(m)
					return true
				}
			}
			other = true
		case *syntax.BinaryArithm:
			// Only an assignment in arithmetic sets the name; a read does not.
			if x, ok := m.X.(*syntax.Word); ok && x.Lit() == name && isAssignOp(m.Op) {
				number(m)
			}
		case *syntax.UnaryArithm:
			if x, ok := m.X.(*syntax.Word); ok && x.Lit() == name && (m.Op == syntax.Inc || m.Op == syntax.Dec) {
				number(m)
			}
		case *syntax.ForClause:
			if it, ok := m.Loop.(*syntax.WordIter); ok && it.Name != nil && it.Name.Value == name {
				other = true
			}
		case *syntax.CallExpr:
			for _, a := range m.Args[min(1, len(m.Args)):] {
				if l := a.Lit(); l == name || strings.HasPrefix(l, name+"=") {
					other = true
				}
			}
		}
		return true
	})
	return set && !other
}

func (s *state) unresNode(n syntax.Node, lv *level, format string, args ...any) {
	w := word{text: lv.srcOf(n)}
	w.off, w.end = lv.span(int(n.Pos().Offset()), int(n.End().Offset()))
	s.unres(w, lv.via, format, args...)
}

// paramRuntime finds parameter expansions that run code at run time:
// ${x@P} expands a prompt string (with $(...) in it), and assigning a
// default to BASH_CMDS or PATH changes what runs.
func (s *state) paramRuntime(p *syntax.ParamExp, lv *level) {
	if p.Exp != nil {
		switch p.Exp.Op {
		case syntax.OtherParamOps:
			if p.Exp.Word != nil && strings.Contains(p.Exp.Word.Lit(), "P") {
				s.unresNode(p, lv, "${x@P} expands a prompt string, which may run commands")
			}
		case syntax.AssignUnset, syntax.AssignUnsetOrNull:
			if p.Param != nil && matchAny(s.p.vars.unresolved, p.Param.Value) {
				s.unresNode(p, lv, "assigns %s, which changes what runs", p.Param.Value)
			}
		}
	}
	if p.Index != nil || p.Slice != nil {
		// Subscripts of indexed arrays and offsets are arithmetic.
		if p.Slice != nil {
			s.arith(p.Slice.Offset, lv)
			s.arith(p.Slice.Length, lv)
		}
		if w, ok := p.Index.(*syntax.Word); ok && w != nil {
			if l := w.Lit(); l == "@" || l == "*" {
				return
			}
			if _, err := strconv.Atoi(w.Lit()); err == nil {
				return
			}
			if w.Lit() != "" && !strings.ContainsAny(w.Lit(), "$`") {
				// a[key]: an associative array's key, or a variable read
				// as a number; a literal key is only a variable name.
				s.arithVar(w.Lit(), w, lv)
				return
			}
			s.arith(w, lv)
		} else if p.Index != nil {
			s.arith(p.Index, lv)
		}
	}
}

func pathMatch(pat, name string) (bool, error) { return path.Match(pat, name) }

// arithTest checks the operands of [[ a -eq b ]], which bash evaluates as
// arithmetic.
func (s *state) arithTest(t *syntax.BinaryTest, lv *level) {
	switch t.Op {
	case syntax.TsEql, syntax.TsNeq, syntax.TsLeq, syntax.TsGeq, syntax.TsLss, syntax.TsGtr:
	default:
		return
	}
	for _, x := range []syntax.TestExpr{t.X, t.Y} {
		w, ok := x.(*syntax.Word)
		if !ok {
			continue
		}
		if l := w.Lit(); l != "" {
			if syntax.ValidName(l) {
				s.arithVar(l, w, lv)
			}
			continue
		}
		s.arith(w, lv)
	}
}

func isAssignOp(op syntax.BinAritOperator) bool {
	switch op {
	case syntax.Assgn, syntax.AddAssgn, syntax.SubAssgn, syntax.MulAssgn, syntax.QuoAssgn, syntax.RemAssgn,
		syntax.AndAssgn, syntax.OrAssgn, syntax.XorAssgn, syntax.ShlAssgn, syntax.ShrAssgn:
		return true
	}
	return false
}
