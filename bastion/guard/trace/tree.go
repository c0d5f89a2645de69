package trace

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what the tree keeps per process and in all; a tree that grows
// past maxProcs is refused (the tracer treats it as an error, which kills it).
const (
	maxImages    = 8
	maxChain     = 8
	maxProcs     = 1 << 16
	maxShownArgs = 240
)

// Image is one program a process ran.
type Image struct {
	Exe  string   // the real executable (/proc/PID/exe at the exec stop)
	Argv []string // its argv as the kernel copied it
}

// Name is how the image is named in a chain: argv[0]'s last element, or the
// executable's when argv[0] is empty.
func (im Image) Name() string {
	if len(im.Argv) > 0 && im.Argv[0] != "" {
		return path.Base(im.Argv[0])
	}
	return path.Base(im.Exe)
}

// String is the executable and its arguments, shortened for a message.
func (im Image) String() string {
	var b strings.Builder
	b.WriteString(im.Exe)
	if len(im.Argv) > 0 && im.Argv[0] != "" && path.Base(im.Argv[0]) != path.Base(im.Exe) {
		// argv[0] names the program to people and to multi-call
		// binaries; show it when it differs (exec -a, symlinks).
		b.WriteString(" (as " + quoteWord(im.Argv[0]) + ")")
	}
	for _, a := range im.Argv[min(1, len(im.Argv)):] {
		b.WriteByte(' ')
		b.WriteString(quoteWord(a))
		if b.Len() > maxShownArgs {
			return b.String()[:maxShownArgs] + "…"
		}
	}
	return b.String()
}

// printable replaces control and format characters (ESC, newline, bidi
// overrides) and bytes that are not UTF-8 with Go escapes (\x1b, \n,
// \u202e). What a tree names itself or passes as argv reaches the admin's
// terminal, the approvers and the audit trail in a message; it must not be
// able to redraw the screen or start a line of its own there.
func printable(s string) string {
	bad := func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }
	if utf8.ValidString(s) && !strings.ContainsFunc(s, bad) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case bad(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func quoteWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Proc is a process of the tree.
type Proc struct {
	Pid    int
	Parent int // tgid of the traced parent; 0 for the root
	// Images are the programs it ran, oldest first. A forked child starts
	// with none: until it executes it is its parent's program.
	Images []Image
	// hidden is set on the root before its first exec: that image is the
	// guard itself, which a chain does not name.
	hidden  bool
	threads map[int]bool
}

// Current is the program the process runs now.
func (p *Proc) Current() (Image, bool) {
	if len(p.Images) == 0 {
		return Image{}, false
	}
	return p.Images[len(p.Images)-1], true
}

// Tree is the tracer's view of the traced processes. It is not safe for
// concurrent use; the tracer owns it.
type Tree struct {
	procs map[int]*Proc // by tgid
	tids  map[int]int   // tid -> tgid
	root  int
}

// NewTree starts a tree whose root is pid (the guard's re-executed child).
func NewTree(root int) *Tree {
	t := &Tree{procs: map[int]*Proc{}, tids: map[int]int{}, root: root}
	t.procs[root] = &Proc{Pid: root, hidden: true, threads: map[int]bool{root: true}}
	t.tids[root] = root
	return t
}

// Root is the first process.
func (t *Tree) Root() int { return t.root }

// Len is the number of live processes.
func (t *Tree) Len() int { return len(t.procs) }

// Contains reports whether the process (tgid) is in the tree.
func (t *Tree) Contains(pid int) bool { _, ok := t.procs[pid]; return ok }

// ContainsTask reports whether the task (any tid) is in the tree.
func (t *Tree) ContainsTask(tid int) bool { _, ok := t.tids[tid]; return ok }

// Tgid returns the process a known task belongs to.
func (t *Tree) Tgid(tid int) (int, bool) { g, ok := t.tids[tid]; return g, ok }

// Proc returns the process with tgid pid.
func (t *Tree) Proc(pid int) (*Proc, bool) { p, ok := t.procs[pid]; return p, ok }

// Pids lists the live processes.
func (t *Tree) Pids() []int {
	out := make([]int, 0, len(t.procs))
	for pid := range t.procs {
		out = append(out, pid)
	}
	return out
}

// AddThread records a new thread tid of process tgid. It reports false if
// the process is not in the tree.
func (t *Tree) AddThread(tid, tgid int) bool {
	p, ok := t.procs[tgid]
	if !ok {
		return false
	}
	p.threads[tid] = true
	t.tids[tid] = tgid
	return true
}

// AddProcess records a new process pid forked by parent (a tgid of the
// tree). Adding a pid already known is a no-op: a child's first stop can be
// seen before its parent's fork event. It reports false if the parent is
// unknown or the tree is full.
func (t *Tree) AddProcess(pid, parent int) bool {
	if _, ok := t.procs[pid]; ok {
		return true
	}
	if _, ok := t.procs[parent]; !ok || len(t.procs) >= maxProcs {
		return false
	}
	t.procs[pid] = &Proc{Pid: pid, Parent: parent, threads: map[int]bool{pid: true}}
	t.tids[pid] = pid
	return true
}

// Exec records that task tid executed im, having been former before (the
// kernel reports the old tid when a non-leader thread executes: the process
// keeps its tgid, every other thread is gone). It returns the process.
func (t *Tree) Exec(tid, former int, im Image) (*Proc, bool) {
	tgid, ok := t.tids[tid]
	if !ok {
		tgid, ok = t.tids[former]
	}
	if !ok {
		return nil, false
	}
	p := t.procs[tgid]
	for th := range p.threads {
		delete(t.tids, th)
	}
	p.threads = map[int]bool{tgid: true}
	t.tids[tgid] = tgid
	if p.hidden {
		p.hidden = false
		p.Images = nil
	}
	p.Images = append(p.Images, im)
	if len(p.Images) > maxImages {
		p.Images = append(p.Images[:1:1], p.Images[len(p.Images)-maxImages+1:]...)
	}
	return p, true
}

// Exit records that task tid is gone. When it was a process's last thread
// (or its leader, whose exit is reported last), the process leaves the tree
// and its pid, now free for reuse, names nothing of ours. It reports whether
// a process left.
func (t *Tree) Exit(tid int) bool {
	tgid, ok := t.tids[tid]
	if !ok {
		return false
	}
	delete(t.tids, tid)
	p := t.procs[tgid]
	delete(p.threads, tid)
	if tid != tgid && len(p.threads) > 0 {
		return false
	}
	for th := range p.threads {
		delete(t.tids, th)
	}
	delete(t.procs, tgid)
	return true
}

// Chain names what started pid's current program: its own earlier programs,
// newest first, then its parent's, and so on up to the root, as in
// "prlimit, bash". A process that has not executed anything yet runs its
// parent's program, so the chain starts from there (see [Tree.Describe]).
func (t *Tree) Chain(pid int) []string {
	var out []string
	skip := true
	for p, ok := t.procs[pid]; ok && !p.hidden && len(out) < maxChain; p, ok = t.procs[p.Parent] {
		for i := len(p.Images) - 1; i >= 0 && len(out) < maxChain; i-- {
			if skip {
				skip = false
				continue
			}
			if n := p.Images[i].Name(); len(out) == 0 || out[len(out)-1] != n {
				out = append(out, n)
			}
		}
	}
	return out
}

// Describe is pid's current program, or its nearest ancestor's when it has
// not executed one yet (a subshell runs its parent's program).
func (t *Tree) Describe(pid int) Image {
	for p, ok := t.procs[pid]; ok; p, ok = t.procs[p.Parent] {
		if im, ok := p.Current(); ok && !p.hidden {
			return im
		}
	}
	return Image{Exe: "?"}
}
