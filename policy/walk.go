package policy

import (
	"path"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// Parsers are reused: building one per decision costs more than the parse.
var parsers = sync.Pool{New: func() any {
	return syntax.NewParser(syntax.Variant(syntax.LangBash))
}}

// parse reads a level as bash and looks at every command in it. Anything the
// parser rejects is unresolved: bash may read it differently.
// It reports false when the parser rejected the text; with s.quiet that is
// not unresolved (the caller only wondered whether the text was shell).
func (s *state) parse(lv *level) bool {
	quiet := s.quiet
	s.quiet = false // only this text is read quietly, not strings inside it
	whole := word{text: lv.src}
	whole.off, whole.end = lv.span(0, len(lv.src))
	if lv.depth > maxDepth {
		s.unres(whole, lv.via, "strings nested too deep")
		return true
	}
	// Every string parsed again costs its length: strings in strings can
	// otherwise make the work grow much faster than the line.
	s.bytes -= len(lv.src) + 1
	if s.bytes < 0 {
		if !s.overBudget {
			s.overBudget = true
			s.unres(whole, lv.via, "the line runs too many strings to check")
		}
		return true
	}
	pr := parsers.Get().(*syntax.Parser)
	f, err := pr.Parse(strings.NewReader(lv.src), "")
	parsers.Put(pr)
	if err != nil {
		if !quiet {
			s.unres(whole, lv.via, "the shell parser rejects the line: %v", err)
		}
		return false
	}
	lv.file = f
	s.bindSequential(f, lv)
	s.walk(f, lv)
	return true
}

func (s *state) walk(root syntax.Node, lv *level) {
	syntax.Walk(root, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				return true
			}
			s.callExpr(n, lv, multiBound(n, lv))
		case *syntax.Assign:
			s.assign(n, lv)
		case *syntax.DeclClause:
			s.decl(n, lv)
		case *syntax.Redirect:
			s.redirect(n, lv)
		case *syntax.ForClause:
			if it, ok := n.Loop.(*syntax.WordIter); ok && it.Name != nil && matchAny(s.p.vars.unresolved, it.Name.Value) {
				s.unres(litWord(it.Name, lv), lv.via, "the loop assigns %s", it.Name.Value)
			}
			s.bindLoop(n, lv)
		case *syntax.CStyleLoop:
			s.arith(n, lv)
		case *syntax.LetClause, *syntax.ArithmCmd, *syntax.ArithmExp:
			s.arithStrings(n, lv)
			s.arith(n, lv)
		case *syntax.TestClause:
			s.arithStrings(n, lv)
		case *syntax.BinaryTest:
			s.arithTest(n, lv)
		case *syntax.ParamExp:
			s.paramRuntime(n, lv)
		case *syntax.Stmt:
			s.hereInput(n, lv)
		case *syntax.BinaryCmd:
			s.pipeInput(n, lv)
		}
		return true
	})
}

// callExpr looks at a command once for each value of the loop variables
// its words use.
func (s *state) callExpr(n *syntax.CallExpr, lv *level, multi []binding) {
	if len(multi) > 0 {
		b := multi[0]
		if lv.pick == nil {
			lv.pick = map[string]string{}
		}
		for _, v := range b.vals {
			lv.pick[b.name] = v
			s.callExpr(n, lv, multi[1:])
		}
		delete(lv.pick, b.name)
		return
	}
	var ws []word
	for _, a := range n.Args {
		ws = resolve(a, lv, ws)
	}
	s.analyze(call{words: ws, lv: lv, via: lv.via, stdin: s.stdin[n]})
}

// hereInput notes a here-document or here-string given to a command: fed to
// a shell, it is the script that runs.
func (s *state) hereInput(st *syntax.Stmt, lv *level) {
	ce, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(st.Redirs) == 0 {
		return
	}
	for _, r := range st.Redirs {
		var in *stdinText
		switch r.Op {
		case syntax.WordHdoc:
			ws := resolve(r.Word, lv, nil)
			if len(ws) == 1 && ws[0].ok {
				in = &stdinText{w: ws[0], exact: true}
			}
		case syntax.Hdoc, syntax.DashHdoc:
			if r.Hdoc == nil {
				continue
			}
			ws := resolve(r.Hdoc, lv, nil)
			if len(ws) == 1 {
				w := ws[0]
				if q := r.Word.Lit() == ""; q || w.ok {
					// A quoted delimiter keeps the body as it stands.
					w.text, w.ok = lv.srcOf(r.Hdoc), true
				}
				in = &stdinText{w: w, exact: true}
			}
		case syntax.RdrIn, syntax.DplIn, syntax.RdrInOut:
			in = &stdinText{} // a file or another descriptor: unknown
		default:
			continue
		}
		if s.stdin == nil {
			s.stdin = map[*syntax.CallExpr]*stdinText{}
		}
		s.stdin[ce] = in
	}
}

// pipeInput notes echo LITERAL | sh: the line is unresolved (echo's output
// is only nearly its arguments), but the literal names the action.
func (s *state) pipeInput(b *syntax.BinaryCmd, lv *level) {
	if b.Op != syntax.Pipe && b.Op != syntax.PipeAll {
		return
	}
	x, ok := b.X.Cmd.(*syntax.CallExpr)
	if !ok || len(x.Args) < 2 {
		return
	}
	y, ok := b.Y.Cmd.(*syntax.CallExpr)
	if !ok {
		return
	}
	name := x.Args[0].Lit()
	if name != "echo" && name != "printf" {
		return
	}
	var ws []word
	for _, a := range x.Args[1:] {
		ws = resolve(a, lv, ws)
	}
	for len(ws) > 0 && strings.HasPrefix(ws[0].text, "-") {
		ws = ws[1:]
	}
	for _, w := range ws {
		if !w.ok {
			return
		}
	}
	if len(ws) == 0 {
		return
	}
	if s.stdin == nil {
		s.stdin = map[*syntax.CallExpr]*stdinText{}
	}
	w := ws[0]
	if len(ws) > 1 {
		var parts []string
		for _, x := range ws {
			parts = append(parts, x.text)
		}
		w.text, w.sw, w.braced = strings.Join(parts, " "), nil, true
		w.end = ws[len(ws)-1].end
	}
	s.stdin[y] = &stdinText{w: w}
}

// stdinText is what a command reads on stdin, when the line shows it.
type stdinText struct {
	w     word
	exact bool // the whole input, exactly
}

func litWord(l *syntax.Lit, lv *level) word {
	w := word{text: l.Value, ok: true, single: true}
	w.off, w.end = lv.span(int(l.Pos().Offset()), int(l.End().Offset()))
	return w
}

// arithStrings reads quoted strings in arithmetic and tests as shell code:
// bash evaluates array subscripts in them, and a subscript may hold $(...).
func (s *state) arithStrings(n syntax.Node, lv *level) {
	syntax.Walk(n, func(m syntax.Node) bool {
		if w, ok := m.(*syntax.Word); ok {
			for _, rw := range resolve(w, lv, nil) {
				s.codeInLiteral(rw, lv)
			}
			return false
		}
		return true
	})
}

// codeInLiteral reads a literal that bash may evaluate later (a variable's
// value used in arithmetic, a subscript) as shell code if it holds a command
// substitution.
func (s *state) codeInLiteral(w word, lv *level) {
	if w.ok && (strings.Contains(w.text, "$(") || strings.Contains(w.text, "`")) {
		// Read as an argument of ":" so a[...] parses as a word, not as a
		// half-written assignment; the two bytes map to the word's start.
		sub := sliceLevel(lv, w, 0, "a string bash may evaluate")
		for i := range sub.pieces {
			sub.pieces[i].at += 2
		}
		sub.pieces = append([]piece{{at: 0, n: 2, off: w.off, end: w.off}}, sub.pieces...)
		sub.src = ": " + sub.src
		s.parse(sub)
	}
}

func (s *state) assign(a *syntax.Assign, lv *level) {
	if a.Naked || a.Name == nil {
		return
	}
	name := a.Name.Value
	nw := litWord(a.Name, lv)
	if matchAny(s.p.vars.unresolved, name) {
		s.unres(nw, lv.via, "assigns %s, which changes what runs", name)
		return
	}
	if a.Value == nil {
		return
	}
	for _, v := range resolve(a.Value, lv, nil) {
		if matchAny(s.p.vars.command, name) {
			if !v.ok {
				s.unres(v, lv.via, "%s holds a command that is not a literal", name)
				continue
			}
			s.parse(sliceLevel(lv, v, 0, name))
			continue
		}
		s.codeInLiteral(v, lv)
	}
}

func (s *state) decl(d *syntax.DeclClause, lv *level) {
	for _, a := range d.Args {
		if !a.Naked || a.Value == nil {
			continue
		}
		for _, w := range resolve(a.Value, lv, nil) {
			if !w.ok {
				s.unres(w, lv.via, "%s argument is not a literal", d.Variant.Value)
				continue
			}
			if len(w.text) > 1 && (w.text[0] == '-' || w.text[0] == '+') && strings.Contains(w.text, "n") {
				s.unres(w, lv.via, "%s -n makes a name refer to another variable", d.Variant.Value)
			}
			s.codeInLiteral(w, lv)
		}
	}
}

// redirect notes files the line writes, so running them later in the line is
// unresolved.
func (s *state) redirect(r *syntax.Redirect, lv *level) {
	switch r.Op {
	case syntax.RdrOut, syntax.AppOut, syntax.RdrInOut, syntax.RdrAll, syntax.AppAll, syntax.RdrClob, syntax.DplOut:
	default:
		return
	}
	if r.Word == nil {
		return
	}
	for _, w := range resolve(r.Word, lv, nil) {
		if w.ok {
			s.wrote(w, w.text)
		}
		if r.Op != syntax.DplOut {
			s.persistWrite(w, lv.via, "a redirection")
		}
	}
}

func (s *state) wrote(w word, file string) {
	if file == "" || file == "-" {
		return
	}
	if s.written == nil {
		s.written = map[string]word{}
	}
	s.written[path.Base(file)] = w
}

// checkWritten makes running a file the same line writes unresolved: cp
// /bin/kill /usr/local/bin/k; k 1 runs kill under another name.
func (s *state) checkWritten() {
	if len(s.written) == 0 {
		return
	}
	for _, c := range s.calls {
		if _, ok := s.written[c.name]; ok {
			s.unres(c.word, nil, "runs %s, a file written earlier in the line", c.name)
		}
	}
}

// builtin handles the shell builtins that run code. It reports whether the
// command was one of them.
func (s *state) builtin(base string, words []word, c call) bool {
	args := words[1:]
	switch base {
	case "eval":
		for _, a := range args {
			if !a.ok || !a.single {
				s.unres(a, c.via, "eval of a string that is not a literal")
				return true
			}
		}
		if len(args) > 0 {
			s.parse(subLevel(c.lv, args, "eval"))
		}
		return true
	case "source", ".":
		s.unres(words[0], c.via, "%s runs a script file", base)
		return true
	case "alias":
		for _, a := range args {
			if !a.ok {
				s.unres(a, c.via, "alias with a body that is not a literal")
				continue
			}
			if i := strings.IndexByte(a.text, '='); i > 0 {
				s.parse(sliceLevel(c.lv, a, i+1, "alias "+a.text[:i]))
			}
		}
		return true
	case "hash":
		for i, a := range args {
			if !a.ok {
				s.unres(a, c.via, "hash argument is not a literal")
				return true
			}
			if a.text == "-p" && i+1 < len(args) {
				// The name will run this path: look at the path as the
				// command, with arguments not known here.
				s.analyze(call{words: []word{args[i+1]}, lv: c.lv, via: append(c.via, "hash -p"), open: true})
			}
		}
		return true
	case "let", "declare", "typeset", "local", "export", "readonly", "printf", "read",
		"mapfile", "readarray", "getopts", "unset", "test", "[", "wait", "printf -v":
		for _, a := range args {
			if (base == "declare" || base == "typeset" || base == "local") && a.ok && len(a.text) > 1 &&
				(a.text[0] == '-' || a.text[0] == '+') && strings.Contains(a.text, "n") {
				s.unres(a, c.via, "%s -n makes a name refer to another variable", base)
			}
			if !a.ok {
				continue
			}
			s.codeInLiteral(a, c.lv)
			name := a.text
			if i := strings.IndexAny(name, "=["); i > 0 {
				name = name[:i]
			}
			if base != "test" && base != "[" && base != "unset" && syntax.ValidName(name) && matchAny(s.p.vars.unresolved, name) {
				s.unres(a, c.via, "%s sets %s, which changes what runs", base, name)
			}
		}
		return false
	}
	return false
}
