package policy

import (
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// Persistence: a line that writes a shell or ssh startup file, a cron table,
// a systemd unit, sudoers or a PAM module makes the system run something
// later, in another session, where the matcher never sees it (sed -i '1i
// kill 1' ~/.bashrc runs kill at everyone's next login, even for an approved
// `true`). Such writes are unresolved. The places are data: catalogue.yaml's
// persistence: list, extended by a policy's.
//
// An entry is an absolute path or a path under any home directory (~/...),
// a path.Match pattern; a trailing / means the directory and everything
// below it.

func (d *decoder) persistList(n *yaml.Node, ctx string) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	l, err := d.stringList(n, ctx, false)
	if err != nil {
		return nil, err
	}
	for i, e := range l {
		if !strings.HasPrefix(e, "/") && !strings.HasPrefix(e, "~/") {
			return nil, d.errf(elem(n, i), "%s: %q: want an absolute path or ~/path", ctx, e)
		}
		if _, err := path.Match(e, ""); err != nil {
			return nil, d.errf(elem(n, i), "%s: bad glob %q", ctx, e)
		}
	}
	return l, nil
}

// homeDir stands for any home directory in paths written with ~ or $HOME.
const homeDir = "/home/~"

// persistPlace returns the persistence entry a written path falls under, or
// "" if none. A path with parts only known at run time falls under an entry
// when some value of those parts could put it there.
func (p *Policy) persistPlace(w word) string {
	t := w.text
	for _, h := range []string{"${HOME}", "$HOME", "~"} {
		if rest, ok := strings.CutPrefix(t, h); ok && (rest == "" || rest[0] == '/') {
			t = homeDir + rest
			break
		}
	}
	if strings.HasPrefix(t, "~") {
		// ~user/...
		if i := strings.IndexByte(t, '/'); i > 0 {
			t = homeDir + t[i:]
		} else {
			t = homeDir
		}
	}
	unknown := !w.ok && strings.ContainsAny(t, "$`*?[")
	if unknown {
		return p.persistMaybe(t)
	}
	if !path.IsAbs(t) {
		// A relative path may be under any directory: compare it with
		// entries under a home directory, and with the tails of others.
		t = "/./" + t
	}
	return p.persistExact(path.Clean(t), strings.HasPrefix(t, "/./"))
}

func (p *Policy) persistExact(clean string, relative bool) string {
	for _, e := range p.persist {
		dir := strings.HasSuffix(e, "/")
		pat := strings.TrimSuffix(e, "/")
		home := strings.HasPrefix(pat, "~/")
		if home {
			pat = pat[2:]
		}
		// Candidates: the path and, for a directory entry, its ancestors;
		// for entries that may sit anywhere (home, relative paths), every
		// tail of those.
		for c := clean; ; c = path.Dir(c) {
			if matchTail(pat, c, home || relative) {
				return e
			}
			if !dir || c == "/" || c == "." {
				break
			}
		}
	}
	return ""
}

// matchTail matches pat against c, or with anywhere, against any tail of c
// made of whole components.
func matchTail(pat, c string, anywhere bool) bool {
	if ok, _ := path.Match(pat, c); ok {
		return true
	}
	if !anywhere {
		return false
	}
	n := strings.Count(pat, "/") + 1
	parts := strings.Split(strings.TrimPrefix(c, "/"), "/")
	if len(parts) < n {
		return false
	}
	ok, _ := path.Match(strings.TrimPrefix(pat, "/"), strings.Join(parts[len(parts)-n:], "/"))
	return ok
}

// persistMaybe checks a path with unknown parts: its literal prefix and its
// last component decide.
func (p *Policy) persistMaybe(t string) string {
	cut := strings.IndexAny(t, "$`*?[")
	pre := t[:cut]
	if !strings.Contains(pre, "/") {
		// The directory itself is unknown: it may be any of them.
		return "a path only known at run time"
	}
	dirPre, lastPre := pre[:strings.LastIndexByte(pre, '/')+1], pre[strings.LastIndexByte(pre, '/')+1:]
	lastUnknown := !strings.Contains(t[cut:], "/")
	for _, e := range p.persist {
		pat := strings.TrimSuffix(e, "/")
		if strings.HasPrefix(pat, "~/") {
			base := path.Base(pat)
			if lastUnknown && strings.HasPrefix(base, lastPre) {
				return e
			}
			if !lastUnknown {
				if ok, _ := path.Match(base, path.Base(t)); ok {
					return e
				}
			}
			continue
		}
		// An absolute entry: the unknown part may complete the path into it.
		if strings.HasPrefix(pat, dirPre) || strings.HasPrefix(dirPre, pat+"/") {
			return e
		}
	}
	return ""
}

// persistWrite makes writing a persistence place unresolved, and matches
// the policy's writes: rules.
func (s *state) persistWrite(w word, via []string, how string) {
	s.writeRules(w, via)
	if len(s.p.persist) == 0 || w.text == "" || w.text == "-" || w.text == "/dev/null" {
		return
	}
	relative := !strings.HasPrefix(w.text, "/") && !strings.HasPrefix(w.text, "~") && !strings.HasPrefix(w.text, "$")
	if s.cwdRisk != "" && relative {
		s.unres(w, via, "%s writes %s in %s, which may make the system run something later", how, clip(w.text, 64), s.cwdRisk)
		return
	}
	if s.cwd != "" && relative {
		w.text = path.Join(s.cwd, w.text)
	}
	if e := s.p.persistPlace(w); e != "" {
		s.unres(w, via, "%s writes %s, which makes the system run something later (persistence: %s)", how, clip(w.text, 64), e)
	}
}

// noteWrites records the files that common file-writing commands create:
// running one later in the line is unresolved, and writing a persistence
// place is.
func (s *state) noteWrites(base string, args []word, c call) {
	var targets []word
	operands := func() []word {
		var out []word
		end := false
		for _, a := range args {
			if !end && a.text == "--" {
				end = true
				continue
			}
			if !end && a.ok && len(a.text) > 1 && a.text[0] == '-' {
				continue
			}
			out = append(out, a)
		}
		return out
	}
	optValue := func(short, long string) {
		for i, a := range args {
			switch {
			case a.text == short || a.text == long:
				if i+1 < len(args) {
					targets = append(targets, args[i+1])
				}
			case strings.HasPrefix(a.text, long+"="):
				v := a
				v.text = a.text[len(long)+1:]
				targets = append(targets, v)
			case len(short) == 2 && strings.HasPrefix(a.text, short) && !strings.HasPrefix(a.text, "--"):
				v := a
				v.text = a.text[2:]
				targets = append(targets, v)
			}
		}
	}
	switch base {
	case "cd", "pushd":
		// A relative write after cd lands in that directory.
		dir := ""
		for _, a := range args {
			if a.ok && strings.HasPrefix(a.text, "-") && len(a.text) > 1 {
				continue
			}
			switch {
			case !a.ok && !(a.noOpt && strings.HasPrefix(a.text, "/")):
				s.cwdRisk = "a directory only known at run time"
			case a.ok && a.text == "-":
				s.cwdRisk = "the previous directory"
			default:
				dir = a.text
			}
			break
		}
		if s.cwdRisk != "" {
			break
		}
		switch {
		case dir == "" || strings.HasPrefix(dir, "~"):
			s.cwd = homeDir + strings.TrimPrefix(strings.TrimPrefix(dir, "~"), "/")
		case strings.HasPrefix(dir, "/"):
			s.cwd = path.Clean(dir)
		case s.cwd != "":
			s.cwd = path.Join(s.cwd, dir)
		default:
			s.cwdRisk = "a directory relative to one not known"
		}
		d := word{text: s.cwd + "/x", ok: !strings.ContainsAny(s.cwd, "$`*?[")}
		if e := s.p.persistPlace(d); e != "" && !strings.HasPrefix(e, "~/") {
			s.cwdRisk = s.cwd
		}
	case "cp", "mv", "ln", "install", "rsync", "scp", "link", "rename":
		ops := operands()
		for _, a := range ops {
			if a.ok {
				s.wrote(a, a.text)
			}
		}
		if len(ops) > 0 {
			targets = append(targets, ops[len(ops)-1])
		}
		optValue("-t", "--target-directory")
		for i, t := range targets {
			// host:path copies to another machine: its path still counts.
			if j := strings.IndexByte(t.text, ':'); j > 0 && !strings.Contains(t.text[:j], "/") {
				targets[i].text = t.text[j+1:]
			}
		}
	case "tee", "sponge":
		for _, a := range operands() {
			if a.ok {
				s.wrote(a, a.text)
			}
			targets = append(targets, a)
		}
	case "sed", "gsed":
		inPlace := false
		for _, a := range args {
			if a.ok && (strings.HasPrefix(a.text, "-i") || strings.HasPrefix(a.text, "--in-place") ||
				(len(a.text) > 1 && a.text[0] == '-' && a.text[1] != '-' && strings.Contains(a.text, "i"))) {
				inPlace = true
			}
		}
		if inPlace {
			targets = append(targets, operands()...)
		}
	case "tar", "gtar", "bsdtar":
		// The archive written (czf FILE, -f FILE) and the directory
		// extracted into (-C DIR).
		for i, a := range args {
			if !a.ok {
				continue
			}
			t := a.text
			next := func() {
				if i+1 < len(args) {
					targets = append(targets, args[i+1])
				}
			}
			switch {
			case t == "-f" || t == "--file" || t == "-C" || t == "--directory":
				if t == "-C" || t == "--directory" {
					if i+1 < len(args) {
						d := args[i+1]
						d.text = strings.TrimSuffix(d.text, "/") + "/x"
						targets = append(targets, d)
					}
					continue
				}
				next()
			case strings.HasPrefix(t, "--file="), strings.HasPrefix(t, "--directory="):
				v := a
				v.text = t[strings.IndexByte(t, '=')+1:]
				if strings.HasPrefix(t, "--directory=") {
					v.text = strings.TrimSuffix(v.text, "/") + "/x"
				}
				targets = append(targets, v)
			case i == 0 && !strings.HasPrefix(t, "--") && strings.HasSuffix(t, "f"):
				next() // tar czf FILE
			case strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "--") && strings.HasSuffix(t, "f"):
				next() // tar -czf FILE
			}
		}
	case "dd":
		for _, a := range args {
			if f, ok := strings.CutPrefix(a.text, "of="); ok {
				if a.ok {
					s.wrote(a, f)
				}
				v := a
				v.text = f
				targets = append(targets, v)
			}
		}
	case "curl", "wget":
		for i, a := range args {
			switch a.text {
			case "-o", "--output", "-O", "--output-document":
				if i+1 < len(args) && args[i+1].ok {
					s.wrote(args[i+1], args[i+1].text)
				}
			}
		}
		if base == "curl" {
			optValue("-o", "--output")
		} else {
			optValue("-O", "--output-document")
		}
	}
	for _, t := range targets {
		s.persistWrite(t, c.via, base)
	}
}

// writeRules matches a written path against the actions' writes: rules.
func (s *state) writeRules(w word, via []string) {
	for _, ref := range s.p.writeRules {
		if ref.kind != kindAction || !s.targetOK(s.p.actions[ref.idx].Targets) {
			continue
		}
		target := path.Clean(w.text)
		hit := false
		for _, g := range ref.rule.Writes {
			if w.ok && globMatch(g, target) {
				hit = true
			}
		}
		if !hit {
			continue
		}
		m := Match{Action: s.p.actions[ref.idx].Name, Rule: ref.rule.ID, Words: []Word{w.pub()}}
		if len(via) > 0 {
			m.Note = "via " + strings.Join(via, ", ")
		}
		s.actions = append(s.actions, hit2(ref.idx, m))
	}
}

func hit2(idx int, m Match) hit { return hit{idx: idx, m: m} }
