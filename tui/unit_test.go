package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/google/go-cmp/cmp"

	"github.com/keyturn/keyturn/policy"
)

func TestParseWhy(t *testing.T) {
	list := `[{"action":"kill_process","rule":"kill","words":[{"text":"kill","offset":0,"end":4}]}]`
	decision := `{"verdict":"hold","why":` + list + `}`
	for _, tc := range []struct {
		name, raw string
		want      int
		ok        bool
	}{
		{"list", list, 1, true},
		{"decision", decision, 1, true},
		{"empty", "", 0, true},
		{"other", `{"rule":"kill"}`, 0, false},
	} {
		ms, ok := parseWhy([]byte(tc.raw))
		if len(ms) != tc.want || ok != tc.ok {
			t.Errorf("parseWhy(%s) = %d matches, %v; want %d, %v", tc.name, len(ms), ok, tc.want, tc.ok)
		}
	}
}

// TestHighlight: matched words are marked by byte offset, offsets outside
// the line are ignored, and control characters cannot forge the display.
func TestHighlight(t *testing.T) {
	hi := lipgloss.NewStyle().Transform(func(s string) string { return "[" + s + "]" })
	for _, tc := range []struct {
		name, cmd string
		words     []policy.Word
		want      string
	}{
		{"words", "kill -9 4242", []policy.Word{{Text: "kill", Offset: 0, End: 4}, {Text: "-9", Offset: 5, End: 7}}, "[kill] [-9] 4242"},
		{"overlap merged", "rm -rf /", []policy.Word{{Text: "rm", Offset: 0, End: 2}, {Text: "rm -rf", Offset: 0, End: 6}}, "[rm -rf] /"},
		{"out of range dropped", "ls", []policy.Word{{Text: "x", Offset: 1, End: 9}, {Text: "y", Offset: -1, End: 1}}, "ls"},
		{"escape shown", "echo ok\x1b[2K\rrm -rf /", []policy.Word{{Text: "rm", Offset: 12, End: 14}}, `echo ok\x1b[2K\r[rm] -rf /`},
		{"bidi shown", "echo \u202egnp.exe", nil, `echo \u202egnp.exe`},
		{"newline shown", "a\nb", nil, `a\nb`},
	} {
		ms := []policy.Match{{Action: "a", Words: tc.words}}
		got := highlight(tc.cmd, matchedSpans(ms, len(tc.cmd)), hi)
		if got != tc.want {
			t.Errorf("highlight(%s) = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestWrapKeepsEverything: a wrapped command line loses no character,
// spaces included.
func TestWrapKeepsEverything(t *testing.T) {
	for _, w := range []int{7, 13, 40} {
		lines := wrap(longCommand, w)
		for _, l := range lines {
			if lipgloss.Width(l) > w {
				t.Errorf("width %d: line %q too wide", w, l)
			}
		}
		if got := strings.Join(lines, ""); got != longCommand {
			t.Errorf("width %d: wrapped text differs:\n%s", w, cmp.Diff(longCommand, got))
		}
	}
}

func TestParseValidBefore(t *testing.T) {
	now := start
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2h", now.Add(2 * time.Hour), false},
		{"2025-03-01T18:00:00Z", time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC), false},
		{"2025-03-01 18:00", time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"tomorrow", time.Time{}, true},
	} {
		got, err := parseValidBefore(tc.in, now)
		if !got.Equal(tc.want) || (err != nil) != tc.err {
			t.Errorf("parseValidBefore(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFilter(t *testing.T) {
	f := newFixture(t)
	f.populate()
	m := f.model(bob, 80, 24)
	reqs, err := f.svc.List(f.ctx, mpaAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		m.upsert(r)
	}
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{"", 7},
		{"status:expired", 1},
		{"status:rej", 1},
		{"action:kill", 4},
		{"target:web-1", 1},
		{"target:web status:pending", 2},
		{"backup", 1}, // carol's comment
		{"ERIN", 1},
		{"status:completed action:restart", 1},
	} {
		spec := parseFilter(tc.filter)
		n := 0
		for _, r := range m.s.reqs {
			if spec.match(r, f.clock.Now()) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("filter %q matches %d; want %d", tc.filter, n, tc.want)
		}
	}
}
