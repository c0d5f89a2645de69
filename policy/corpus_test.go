package policy

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// The corpora in testdata/corpus were written by someone who had not read
// the matcher (issue 18): benign.txt is a week of an SRE's harmless lines,
// privileged.txt is ACTION<TAB>LINE, each line performing that action.

type corpusLine struct {
	n            int
	action, line string
}

// readCorpus reads the corpus in file name, ACTION<TAB>LINE lines if
// labelled; fewer than atLeast lines fails the test (a corpus cut short
// would pass with nothing checked).
func readCorpus(t *testing.T, name string, labelled bool, atLeast int) []corpusLine {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := corpusLine{n: n, line: l}
		if labelled {
			a, line, ok := strings.Cut(l, "\t")
			if !ok {
				t.Fatalf("%s:%d: want ACTION<TAB>LINE", name, n)
			}
			c.action, c.line = a, line
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < atLeast {
		t.Errorf("%s has %d lines; want at least %d", name, len(out), atLeast)
	}
	return out
}

func TestCorpusBenign(t *testing.T) {
	p := shippedPolicy(t)
	lines := readCorpus(t, "testdata/corpus/benign.txt", false, 500)
	held := 0
	for _, c := range lines {
		d := p.Decide(Input{Command: c.line})
		if d.Verdict != Allow {
			held++
			t.Errorf("benign.txt:%d: %q = %v\n%s", c.n, c.line, d.Verdict, d.Message())
		}
	}
	t.Logf("%d of %d benign lines allowed", len(lines)-held, len(lines))
}

func TestCorpusPrivileged(t *testing.T) {
	p := shippedPolicy(t)
	lines := readCorpus(t, "testdata/corpus/privileged.txt", true, 300)
	named := 0
	var wrong []string
	for _, c := range lines {
		d := p.Decide(Input{Command: c.line})
		if d.Verdict == Allow {
			t.Errorf("privileged.txt:%d: %q allowed; want %s held", c.n, c.line, c.action)
			continue
		}
		if slices.ContainsFunc(d.Actions, func(a ActionRef) bool { return a.Name == c.action }) {
			named++
		} else {
			wrong = append(wrong, c.line+"\n"+d.Message())
		}
	}
	pct := 100 * float64(named) / float64(len(lines))
	t.Logf("%d of %d privileged lines held with the right action named (%.1f%%)", named, len(lines), pct)
	if pct < 95 {
		t.Errorf("right action named for %.1f%% of the privileged lines; want at least 95%%", pct)
	}
	if testing.Verbose() {
		for _, w := range wrong {
			t.Logf("action not named: %s", w)
		}
	}
}
