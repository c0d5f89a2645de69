package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// word is a shell word after the expansions that can be done without running
// anything: quote removal, backslashes, $'...' and brace expansion.
type word struct {
	text     string
	off, end int  // span in Input.Command
	ok       bool // text is exactly the argument the program will get
	single   bool // the word is one argument, even if its text is unknown
	noOpt    bool // starts with a literal other than "-": never an option
	sw       *syntax.Word
	lv       *level
	braced   bool // one field of a brace expansion: no exact mapping
}

// maxBraceFields bounds brace expansion: a line that expands to more words is
// not worth reading statically, and the bound keeps Decide cheap.
const maxBraceFields = 64

// piece maps src[at:at+n] of a level to Input.Command. Exact pieces map byte
// for byte; the others map every byte to the whole span [off, end).
type piece struct {
	at, n    int
	off, end int
	exact    bool
}

// level is one parse: the command line itself, or a string inside it that the
// shell runs again (sh -c, eval, ssh HOST CMD).
type level struct {
	src    string
	pieces []piece // nil at the top: offsets are Input.Command offsets
	depth  int
	via    []string
	binds  []binding         // values the line gives variables, see runtime.go
	pick   map[string]string // the value being followed of a variable with several
	file   *syntax.File
}

func (lv *level) span(a, b int) (int, int) {
	if lv.pieces == nil {
		return a, b
	}
	off, end, found := 0, 0, false
	for _, p := range lv.pieces {
		overlap := p.at < b && p.at+p.n > a
		if a == b {
			overlap = p.at <= a && a <= p.at+p.n
		}
		if !overlap {
			continue
		}
		po, pe := p.off, p.end
		if p.exact {
			lo, hi := max(a, p.at), min(b, p.at+p.n)
			po, pe = p.off+lo-p.at, p.off+hi-p.at
		}
		if !found {
			off, end, found = po, pe, true
			continue
		}
		off, end = min(off, po), max(end, pe)
	}
	if !found && len(lv.pieces) > 0 {
		last := lv.pieces[len(lv.pieces)-1]
		return last.end, last.end
	}
	return off, end
}

// exactAt reports whether src[a:a+n] maps byte for byte, and where to.
func (lv *level) exactAt(a, n int) (int, bool) {
	if lv.pieces == nil {
		return a, true
	}
	for _, p := range lv.pieces {
		if p.exact && a >= p.at && a+n <= p.at+p.n {
			return p.off + a - p.at, true
		}
	}
	return 0, false
}

func (lv *level) srcOf(n syntax.Node) string {
	a, b := int(n.Pos().Offset()), int(n.End().Offset())
	if a < 0 || b > len(lv.src) || a > b {
		return ""
	}
	return lv.src[a:b]
}

// resolve expands a syntax word into the words the shell will pass, appending
// them to out.
func resolve(w *syntax.Word, lv *level, out []word) []word {
	off, end := lv.span(int(w.Pos().Offset()), int(w.End().Offset()))
	// SplitBraces rewrites the word it is given; the tree is walked again
	// afterwards and syntax.Walk does not know BraceExp, so split a copy.
	if cw := *w; hasBraceCandidate(w) && syntax.SplitBraces(&cw) {
		budget := maxBraceFields
		alts := expandBraces(cw.Parts, &budget)
		if alts == nil {
			return append(out, word{text: lv.srcOf(w), off: off, end: end, sw: w, lv: lv, braced: true})
		}
		for _, parts := range alts {
			text, ok, single := resolveParts(parts, lv)
			out = append(out, word{text: text, off: off, end: end, ok: ok, single: single, sw: w, lv: lv, braced: true,
				noOpt: !ok && single && leadsLiteral(parts)})
		}
		return out
	}
	text, ok, single := resolveParts(w.Parts, lv)
	return append(out, word{text: text, off: off, end: end, ok: ok, single: single, sw: w, lv: lv,
		noOpt: !ok && single && leadsLiteral(w.Parts)})
}

func hasBraceCandidate(w *syntax.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.IndexByte(l.Value, '{') >= 0 {
			return true
		}
	}
	return false
}

func resolveParts(parts []syntax.WordPart, lv *level) (text string, ok, single bool) {
	if len(parts) == 1 {
		// The common case: one plain literal needs no builder.
		if l, isLit := parts[0].(*syntax.Lit); isLit && !strings.ContainsAny(l.Value, "\\*?[~") {
			return l.Value, true, true
		}
	}
	var b strings.Builder
	ok, single = true, true
	for i, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			t, glob := unescapeUnquoted(p.Value)
			if glob {
				ok, single = false, false
			}
			if i == 0 && strings.HasPrefix(t, "~") {
				ok = false // tilde expansion reads the environment
			}
			b.WriteString(t)
		case *syntax.SglQuoted:
			if p.Dollar {
				b.WriteString(ansiC(p.Value))
			} else {
				b.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				switch q := q.(type) {
				case *syntax.Lit:
					b.WriteString(unescapeDouble(q.Value))
				case *syntax.ParamExp:
					if v, bound := boundValue(q, lv); bound {
						b.WriteString(v)
						continue
					}
					ok = false
					if manyFields(q) {
						single = false
					}
					b.WriteString(lv.srcOf(q))
				default:
					ok = false
					b.WriteString(lv.srcOf(q))
				}
			}
		case *syntax.ArithmExp, *syntax.ProcSubst:
			ok = false
			b.WriteString(lv.srcOf(p))
		case *syntax.ParamExp:
			if v, bound := boundValue(p, lv); bound {
				b.WriteString(v) // a safe value: no splitting, no globbing
				continue
			}
			ok, single = false, false
			b.WriteString(lv.srcOf(p))
		case *syntax.CmdSubst:
			// One word with no blank (date +%F) keeps the field count.
			ok = false
			single = single && fixedOutput(p)
			b.WriteString(lv.srcOf(p))
		default: // ExtGlob, BraceExp: unknown text and field count
			ok, single = false, false
			b.WriteString(lv.srcOf(p))
		}
	}
	return b.String(), ok, single
}

// leadsLiteral reports whether a word starts with a literal character other
// than "-", so that it can never be read as an option.
func leadsLiteral(parts []syntax.WordPart) bool {
	if len(parts) == 0 {
		return false
	}
	switch p := parts[0].(type) {
	case *syntax.Lit:
		return p.Value != "" && p.Value[0] != '-' && p.Value[0] != '+' && p.Value[0] != '~'
	case *syntax.SglQuoted:
		return p.Value != "" && p.Value[0] != '-' && p.Value[0] != '+'
	case *syntax.DblQuoted:
		if len(p.Parts) > 0 {
			if l, ok := p.Parts[0].(*syntax.Lit); ok {
				return l.Value != "" && l.Value[0] != '-' && l.Value[0] != '+'
			}
		}
	}
	return false
}

// manyFields reports "$@" and "${a[@]}", which expand to several words even
// inside double quotes.
func manyFields(p *syntax.ParamExp) bool {
	if p.Param != nil && (p.Param.Value == "@") {
		return true
	}
	if p.Index != nil {
		if w, isWord := p.Index.(*syntax.Word); isWord && (w.Lit() == "@" || w.Lit() == "*") {
			return true
		}
	}
	return p.Names != 0 || p.Excl
}

// unescapeUnquoted removes backslashes the way the shell does outside quotes,
// and reports whether an unescaped glob character is left.
func unescapeUnquoted(s string) (string, bool) {
	if !strings.ContainsAny(s, "\\*?[") {
		return s, false
	}
	var b strings.Builder
	glob, open := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		case c == '*' || c == '?':
			glob = true
		case c == '[':
			open = true
		case c == ']' && open:
			glob = true
		}
		b.WriteByte(c)
	}
	return b.String(), glob
}

// unescapeDouble removes the backslashes that are special inside "...".
func unescapeDouble(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '$', '`', '"', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case '\n':
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ansiC decodes the body of a bash $'...' string.
func ansiC(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"', '?':
			b.WriteByte(e)
		case 'c':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i] & 0x1f)
			} else {
				b.WriteString("\\c")
			}
		case 'x', 'u', 'U':
			maxDigits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			j := i + 1
			for j < len(s) && j-i-1 < maxDigits && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			v, _ := strconv.ParseUint(s[i+1:j], 16, 32)
			if e == 'x' {
				b.WriteByte(byte(v))
			} else if utf8.ValidRune(rune(v)) {
				b.WriteRune(rune(v))
			}
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j-i < 3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// expandBraces returns every combination of a word's brace expansions, or
// nil when there would be more than *budget of them.
func expandBraces(parts []syntax.WordPart, budget *int) [][]syntax.WordPart {
	out := [][]syntax.WordPart{nil}
	for _, p := range parts {
		be, isBrace := p.(*syntax.BraceExp)
		if !isBrace {
			for i := range out {
				out[i] = append(out[i], p)
			}
			continue
		}
		var alts [][]syntax.WordPart
		if be.Sequence {
			seq := sequence(be, *budget)
			if seq == nil {
				return nil
			}
			for _, s := range seq {
				alts = append(alts, []syntax.WordPart{&syntax.Lit{ValuePos: be.Pos(), ValueEnd: be.End(), Value: s}})
			}
		} else {
			for _, e := range be.Elems {
				sub := expandBraces(e.Parts, budget)
				if sub == nil {
					return nil
				}
				alts = append(alts, sub...)
			}
		}
		if len(out)*len(alts) > *budget {
			return nil
		}
		next := make([][]syntax.WordPart, 0, len(out)*len(alts))
		for _, o := range out {
			for _, a := range alts {
				w := make([]syntax.WordPart, 0, len(o)+len(a))
				w = append(append(w, o...), a...)
				next = append(next, w)
			}
		}
		out = next
	}
	return out
}

// sequence expands {x..y[..incr]} for numbers and single letters.
func sequence(be *syntax.BraceExp, limit int) []string {
	if len(be.Elems) < 2 {
		return nil
	}
	lits := make([]string, len(be.Elems))
	for i, e := range be.Elems {
		lits[i] = e.Lit()
	}
	incr := 1
	if len(lits) == 3 {
		n, err := strconv.Atoi(lits[2])
		if err != nil || n == 0 || n > 1<<30 || n < -(1<<30) {
			return nil
		}
		incr = max(n, -n)
	}
	a, errA := strconv.Atoi(lits[0])
	z, errZ := strconv.Atoi(lits[1])
	isChar := false
	if errA != nil || errZ != nil {
		if len(lits[0]) != 1 || len(lits[1]) != 1 {
			return nil
		}
		a, z, isChar = int(lits[0][0]), int(lits[1][0]), true
	}
	if max(a, -a, z, -z) > 1<<30 {
		return nil
	}
	step := incr
	if z < a {
		step = -incr
	}
	if (z-a)/step+1 > limit {
		return nil
	}
	var out []string
	for v := a; (step > 0 && v <= z) || (step < 0 && v >= z); v += step {
		if isChar {
			out = append(out, string(rune(v)))
		} else {
			out = append(out, strconv.Itoa(v))
		}
	}
	return out
}

// pieces maps the word's text to Input.Command, exactly where the source
// shows the text verbatim, so a string run again keeps precise offsets.
func (w word) pieces() []piece {
	whole := []piece{{at: 0, n: len(w.text), off: w.off, end: w.end}}
	if w.sw == nil || w.braced || w.lv == nil {
		return whole
	}
	var out []piece
	at := 0
	add := func(text string, srcAt int, verbatim bool, n syntax.Node) {
		p := piece{at: at, n: len(text)}
		if verbatim {
			if o, exact := w.lv.exactAt(srcAt, len(text)); exact {
				p.off, p.end, p.exact = o, o+len(text), true
			}
		}
		if !p.exact {
			p.off, p.end = w.lv.span(int(n.Pos().Offset()), int(n.End().Offset()))
		}
		out = append(out, p)
		at += len(text)
	}
	for _, part := range w.sw.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			t, _ := unescapeUnquoted(p.Value)
			pos := int(p.Pos().Offset())
			add(t, pos, t == p.Value && int(p.End().Offset())-pos == len(t), p)
		case *syntax.SglQuoted:
			t := p.Value
			if p.Dollar {
				t = ansiC(p.Value)
			}
			add(t, int(p.Pos().Offset())+1, !p.Dollar, p)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if l, isLit := q.(*syntax.Lit); isLit {
					t := unescapeDouble(l.Value)
					add(t, int(l.Pos().Offset()), t == l.Value, l)
				} else {
					add(w.lv.srcOf(q), 0, false, q)
				}
			}
		default:
			add(w.lv.srcOf(part), 0, false, part)
		}
	}
	if at != len(w.text) {
		return whole
	}
	return out
}

// sub is a new level for a string made of words joined by spaces: what
// sh -c, ssh and eval run.
func subLevel(parent *level, ws []word, via string) *level {
	var b strings.Builder
	var ps []piece
	for i, w := range ws {
		if i > 0 {
			b.WriteByte(' ')
			ps = append(ps, piece{at: b.Len() - 1, n: 1, off: ws[i-1].end, end: ws[i-1].end})
		}
		for _, p := range w.pieces() {
			p.at += b.Len()
			ps = append(ps, p)
		}
		b.WriteString(w.text)
	}
	vias := append(append([]string(nil), parent.via...), via)
	return &level{src: b.String(), pieces: ps, depth: parent.depth + 1, via: vias}
}

// sliceLevel is a new level for text[from:] of one word (alias NAME=VALUE).
func sliceLevel(parent *level, w word, from int, via string) *level {
	var ps []piece
	for _, p := range w.pieces() {
		if p.at+p.n <= from {
			continue
		}
		if p.at < from {
			cut := from - p.at
			p.at, p.n = from, p.n-cut
			if p.exact {
				p.off += cut
			}
		}
		p.at -= from
		ps = append(ps, p)
	}
	vias := append(append([]string(nil), parent.via...), via)
	return &level{src: w.text[from:], pieces: ps, depth: parent.depth + 1, via: vias}
}
