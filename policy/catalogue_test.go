package policy

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestCatalogueCoversGTFOBins walks the GTFOBins list (testdata, see
// gtfobins-functions.README): every program that can spawn a shell or run a
// command is a runner in the catalogue, or is held whenever it appears with
// arguments it could run. None of them may be inert.
func TestCatalogueCoversGTFOBins(t *testing.T) {
	p := shippedPolicy(t)
	f, err := os.Open("testdata/gtfobins-functions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	checked, modelled := 0, 0
	for n := 1; sc.Scan(); n++ {
		cols := strings.Split(sc.Text(), "\t")
		if n == 1 || len(cols) < 2 {
			continue
		}
		name, fns := cols[0], ","+cols[1]+","
		if !strings.Contains(fns, ",shell,") && !strings.Contains(fns, ",command,") {
			continue
		}
		checked++
		if p.inert.has(name) {
			t.Errorf("%s can run commands (GTFOBins: %s) but is listed as inert", name, cols[1])
			continue
		}
		if w := p.wrappers.lookup(name); w != nil {
			modelled++
			continue
		}
		// Not modelled: then it is unknown, and any argument that names a
		// program to run must hold the line.
		for _, line := range []string{
			name + " kill 1",
			name + " -c 'kill 1'",
			name + " -e 'kill 1'",
			name + " x 'pkill -f w'",
			name + " --exec=/bin/kill 1",
		} {
			if d := p.Decide(Input{Command: line}); d.Verdict == Allow {
				t.Errorf("%s (GTFOBins: %s) is not in the catalogue, and %q is allowed", name, cols[1], line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 200 {
		t.Errorf("only %d programs with shell or command in the list; want the whole catalogue", checked)
	}
	t.Logf("%d programs can run commands; %d are runners in the catalogue, the rest unknown and held with such arguments", checked, modelled)
}

// TestCatalogueExamples runs every example line the catalogue gives for a
// runner: each uses the program to run kill, and must be held.
func TestCatalogueExamples(t *testing.T) {
	p := shippedPolicy(t)
	b, err := builtinWrappers()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*wrapper]bool{}
	n := 0
	var walk func(w *wrapper)
	walk = func(w *wrapper) {
		if seen[w] {
			return
		}
		seen[w] = true
		if w.example != "" {
			n++
			if d := p.Decide(Input{Command: w.example}); d.Verdict == Allow {
				t.Errorf("catalogue example for %v: %q is allowed\n%s", w.commands, w.example, d.Message())
			}
		}
		for _, s := range w.subs {
			walk(s)
		}
	}
	for _, w := range b.wrappers.byName {
		walk(w)
	}
	for _, g := range b.wrappers.globs {
		walk(g.w)
	}
	if n < 20 {
		t.Errorf("only %d examples in the catalogue", n)
	}
}

// TestInertAndSite: a policy's inert: and wrappers: replace the catalogue's
// word for a program.
func TestInertAndSite(t *testing.T) {
	p, err := Parse("site.yaml", []byte(`
version: 1
actions:
  - name: kill_process
    service: process
    match: [{command: kill}]
inert: [ourreport]
wrappers:
  - command: ourrunner
    operands: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line string
		want Verdict
		why  string
	}{
		{"ourreport kill 1", Allow, ""},
		{"otherreport kill 1", Hold, "declare it under wrappers:"},
		{"ourrunner host kill 1", Hold, ""},
		{"ourrunner host ls", Allow, ""},
		{"otherreport --list", Allow, ""},
	} {
		d := p.Decide(Input{Command: tt.line})
		if d.Verdict != tt.want || !strings.Contains(d.Message(), tt.why) {
			t.Errorf("Decide(%q) = %v; want %v with %q\n%s", tt.line, d.Verdict, tt.want, tt.why, d.Message())
		}
	}
}
