package policy

import (
	"slices"
	"strings"
)

// GNU sed runs shell commands: the e command runs its argument (or the
// pattern space), and the s command's e flag runs the result of the
// substitution; w FILE and s///w FILE write files. sedScript reads the
// script for them: a command the line shows is looked at as a shell line,
// the pattern space is unresolved, a written file is checked like any other.

type sedFound struct {
	cmds   []string // shell lines the script runs
	writes []string
	unres  string // why the script cannot be read, or runs what the gate cannot see
}

func (s *state) sedScript(base string, args []word, c call) {
	via := append(slices.Clone(c.via), base)
	var scripts []word
	sandbox, fromFile := false, false
	var operands []word
	for i := 0; i < len(args); i++ {
		a := args[i]
		t := a.text
		if !a.ok {
			if a.noOpt && a.single {
				operands = append(operands, a)
				continue
			}
			s.unres(a, via, "an argument of sed is not a literal and may be a script")
			return
		}
		switch {
		case t == "--":
			operands = append(operands, args[i+1:]...)
			i = len(args)
		case t == "--sandbox":
			sandbox = true
		case t == "-e" || t == "--expression" || strings.HasPrefix("--expression", t) && len(t) > 3 && t[1] == '-' && !strings.Contains(t, "="):
			if i+1 < len(args) {
				i++
				scripts = append(scripts, args[i])
			}
		case strings.HasPrefix(t, "--expression=") || strings.HasPrefix(t, "--e") && strings.Contains(t, "="):
			v := a
			v.text = t[strings.IndexByte(t, '=')+1:]
			v.sw, v.braced = nil, true
			scripts = append(scripts, v)
		case t == "-f" || strings.HasPrefix(t, "--file") || strings.HasPrefix(t, "--fi"):
			fromFile = true
			i++
		case t == "-l" || t == "--line-length":
			i++
		case len(t) > 1 && t[0] == '-' && t[1] != '-':
			// A cluster: -ne SCRIPT, -nf FILE, -i.bak.
			for j := 1; j < len(t); j++ {
				switch t[j] {
				case 'e':
					if rest := t[j+1:]; rest != "" {
						v := a
						v.text, v.sw, v.braced = rest, nil, true
						scripts = append(scripts, v)
					} else if i+1 < len(args) {
						i++
						scripts = append(scripts, args[i])
					}
					j = len(t)
				case 'f':
					fromFile = true
					if t[j+1:] == "" {
						i++
					}
					j = len(t)
				case 'i', 'l':
					j = len(t) // the rest is a suffix or a number
				}
			}
		case strings.HasPrefix(t, "--"):
		default:
			operands = append(operands, a)
		}
	}
	if sandbox {
		return
	}
	if fromFile {
		s.unres(args[0], via, "sed -f reads a script file, which may run commands with e")
		return
	}
	if len(scripts) == 0 && len(operands) > 0 {
		scripts = operands[:1]
	}
	for _, sc := range scripts {
		if !sc.ok {
			s.unres(sc, via, "the sed script is not a literal")
			continue
		}
		f := parseSed(sc.text)
		for _, cmd := range f.cmds {
			w := sc
			w.text, w.sw, w.braced = cmd, nil, true
			lv := subLevel(c.lv, []word{w}, "sed e")
			lv.via = via
			s.parse(lv)
		}
		for _, file := range f.writes {
			w := sc
			w.text, w.sw, w.braced = file, nil, true
			s.persistWrite(w, via, "sed w")
		}
		if f.unres != "" {
			s.unres(sc, via, "%s", f.unres)
		}
	}
}

// maxSedCommands bounds the work on one script.
const maxSedCommands = 256

func parseSed(src string) sedFound {
	var f sedFound
	// unreadable is the answer where the script leaves sed's grammar.
	unreadable := func() sedFound {
		f.unres = "the sed script cannot be read"
		return f
	}
	i := 0
	n := 0
	eol := func() string { // the rest of the line
		j := strings.IndexByte(src[i:], '\n')
		if j < 0 {
			j = len(src) - i
		}
		t := src[i : i+j]
		i += j
		return t
	}
	skipSpace := func() {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
	}
	// delimited reads up to an unescaped delimiter and returns the text with
	// escaped delimiters unescaped.
	delimited := func(d byte) (string, bool) {
		var b strings.Builder
		for i < len(src) {
			c := src[i]
			if c == '\\' && i+1 < len(src) {
				if src[i+1] == d {
					b.WriteByte(d)
				} else {
					b.WriteByte(c)
					b.WriteByte(src[i+1])
				}
				i += 2
				continue
			}
			if c == d {
				i++
				return b.String(), true
			}
			if c == '\n' && d != '\n' {
				return "", false
			}
			b.WriteByte(c)
			i++
		}
		return "", false
	}
	address := func() bool {
		if i >= len(src) {
			return true
		}
		switch c := src[i]; {
		case c >= '0' && c <= '9':
			for i < len(src) && (src[i] >= '0' && src[i] <= '9' || src[i] == '~') {
				i++
			}
		case c == '$':
			i++
		case c == '/' || c == '\\':
			d := byte('/')
			if c == '\\' {
				if i+1 >= len(src) {
					return false
				}
				d = src[i+1]
				i++
			}
			i++
			if _, ok := delimited(d); !ok {
				return false
			}
			for i < len(src) && (src[i] == 'I' || src[i] == 'M') {
				i++
			}
		case c == '+' || c == '~':
			i++
			for i < len(src) && src[i] >= '0' && src[i] <= '9' {
				i++
			}
		}
		return true
	}
	for i < len(src) {
		n++
		if n > maxSedCommands {
			f.unres = "the sed script is too long to read"
			return f
		}
		for i < len(src) && strings.IndexByte(" \t\n;", src[i]) >= 0 {
			i++
		}
		if i >= len(src) {
			break
		}
		if src[i] == '#' {
			eol()
			continue
		}
		if !address() {
			return unreadable()
		}
		skipSpace()
		if i < len(src) && src[i] == ',' {
			i++
			skipSpace()
			if !address() {
				return unreadable()
			}
		}
		skipSpace()
		for i < len(src) && src[i] == '!' {
			i++
			skipSpace()
		}
		if i >= len(src) {
			return unreadable()
		}
		c := src[i]
		i++
		switch c {
		case '{', '}', '=', 'd', 'D', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z', 'F':
		case 'q', 'Q', 'l', 'L':
			skipSpace()
			for i < len(src) && src[i] >= '0' && src[i] <= '9' {
				i++
			}
		case ':', 'b', 't', 'T', 'v':
			for i < len(src) && src[i] != ';' && src[i] != '\n' && src[i] != '}' {
				i++
			}
		case 'a', 'i', 'c':
			// Text to the end of the line; a trailing backslash goes on.
			for {
				t := eol()
				if !strings.HasSuffix(t, "\\") || i >= len(src) {
					break
				}
				i++
			}
		case 'r', 'R':
			eol()
		case 'w', 'W':
			skipSpace()
			f.writes = append(f.writes, eol())
		case 'e':
			skipSpace()
			cmd := eol()
			if strings.TrimSpace(cmd) == "" {
				f.unres = "sed's e command runs the pattern space as a shell command"
			} else {
				f.cmds = append(f.cmds, cmd)
			}
		case 's', 'y':
			if i >= len(src) || src[i] == '\n' || src[i] == '\\' {
				return unreadable()
			}
			d := src[i]
			i++
			if _, ok := delimited(d); !ok {
				return unreadable()
			}
			repl, ok := delimited(d)
			if !ok {
				return unreadable()
			}
			if c == 'y' {
				break
			}
			for i < len(src) && strings.IndexByte("gpiImMe0123456789w", src[i]) >= 0 {
				switch src[i] {
				case 'e':
					// The result of the substitution runs: the replacement
					// names what, the rest of the line is not known.
					f.cmds = append(f.cmds, repl)
					f.unres = "sed's s///e flag runs the substituted line as a shell command"
				case 'w':
					i++
					skipSpace()
					f.writes = append(f.writes, eol())
					continue
				}
				i++
			}
		default:
			f.unres = "the sed script has a command the gate does not know"
			return f
		}
	}
	return f
}
