package mpacli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyturn/keyturn/bastion/mpacli"
	"github.com/keyturn/keyturn/policy"
)

// TestBoundWhy tries whys built to get past the bound: many matches, one
// huge word, text that grows when JSON-escaped, huge rule and note,
// multi-byte characters at the cut.
func TestBoundWhy(t *testing.T) {
	line := strings.Repeat("$(kill ", 9000)
	many := make([]policy.Match, 5000)
	for i := range many {
		many[i] = policy.Match{Action: "kill_process", Rule: "kill", Words: []policy.Word{{Text: "kill", Offset: i, End: i + 4}}}
	}
	for name, ms := range map[string][]policy.Match{
		"many matches":   many,
		"copies of line": {{Action: "unresolved_command", Words: []policy.Word{{Text: line, Offset: 0, End: len(line)}}}, {Action: "x", Note: line}},
		"escaping":       {{Action: "a", Words: []policy.Word{{Text: strings.Repeat("\x01<>&", 100000)}}}},
		"huge rule":      {{Action: strings.Repeat("é", 100000), Rule: strings.Repeat("€", 100000)}},
		"400 copies": func() []policy.Match {
			out := make([]policy.Match, 400)
			for i := range out {
				out[i] = policy.Match{Action: "unresolved_command", Words: []policy.Word{{Text: line}}}
			}
			return out
		}(),
	} {
		got := mpacli.BoundWhy(ms)
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > mpacli.MaxWhyBytes {
			t.Errorf("%s: bounded why is %d bytes, over %d", name, len(b), mpacli.MaxWhyBytes)
		}
		if strings.Contains(string(b), line) {
			t.Errorf("%s: the line is still in the why", name)
		}
		if !utf8.Valid(b) {
			t.Errorf("%s: invalid UTF-8 after the cut", name)
		}
		var back []policy.Match
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%s: bounded why no longer reads as matches: %v", name, err)
		}
	}
	if got := mpacli.BoundWhy(many); got[len(got)-1].Action != mpacli.TruncatedAction || !strings.Contains(got[len(got)-1].Note, "left out") {
		t.Errorf("a cut why does not say so: %+v", got[len(got)-1])
	}
	// A small why is kept as it is, offsets and all.
	small := []policy.Match{{Action: "kill_process", Rule: "kill", Words: []policy.Word{{Text: "kill", Offset: 0, End: 4}}}}
	if got := mpacli.BoundWhy(small); len(got) != 1 || got[0].Words[0] != small[0].Words[0] || got[0].Rule != "kill" {
		t.Errorf("small why changed: %+v", got)
	}
}
