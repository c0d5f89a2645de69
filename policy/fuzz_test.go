package policy

import (
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

func FuzzDecide(f *testing.F) {
	for _, c := range decideCases {
		f.Add(c.line, c.pty)
	}
	p := shippedPolicy(f)
	f.Fuzz(func(t *testing.T, line string, pty bool) {
		d := p.Decide(Input{Command: line, PTY: pty})
		_, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
		if err != nil && d.Verdict == Allow {
			t.Fatalf("Decide(%q) = allow, but the parser rejects it: %v", line, err)
		}
		if d.Verdict == Allow && len(d.Actions) > 0 {
			t.Fatalf("Decide(%q) = allow with actions %v", line, d.Actions)
		}
		if d.Verdict != Allow && len(d.Actions) == 0 {
			t.Fatalf("Decide(%q) = %v without actions", line, d.Verdict)
		}
		for _, m := range d.Why {
			for _, w := range m.Words {
				if w.Offset < 0 || w.End > len(line) || w.Offset > w.End {
					t.Fatalf("Decide(%q): word %+v outside the line", line, w)
				}
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"../policies.yaml", "testdata/unknown_field.yaml", "testdata/bad_glob.yaml", "testdata/duplicate_action.yaml"} {
		if b, err := readFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\nwrappers: [{command: x, run: string, operands: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
				t.Fatalf("Parse error %q does not start with the file name", err)
			}
			return
		}
		p.Decide(Input{Command: "sudo kill 1; zfs destroy t@s"})
	})
}
