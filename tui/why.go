package tui

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/keyturn/keyturn/policy"
)

// parseWhy decodes a request's Why (the policy decision's explanation as
// mpa stores it) that is either the list of matches or a whole decision
// with a "why" field. ok is false for anything else, which the
// detail view then shows raw.
func parseWhy(raw []byte) (ms []policy.Match, ok bool) {
	if len(raw) == 0 {
		return nil, true
	}
	if json.Unmarshal(raw, &ms) == nil {
		return ms, true
	}
	var d struct {
		Why []policy.Match `json:"why"`
	}
	if json.Unmarshal(raw, &d) == nil && d.Why != nil {
		return d.Why, true
	}
	return nil, false
}

// span is a highlighted byte range of the command line.
type span struct{ from, to int }

// matchedSpans returns the valid word ranges of ms within a command of n
// bytes, sorted and merged. A range outside the command (a Why from a
// different line) is dropped rather than trusted.
func matchedSpans(ms []policy.Match, n int) []span {
	var out []span
	for _, m := range ms {
		for _, w := range m.Words {
			if w.Offset < 0 || w.End > n || w.Offset >= w.End {
				continue
			}
			out = append(out, span{w.Offset, w.End})
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.from - b.from })
	merged := out[:0]
	for _, s := range out {
		if k := len(merged); k > 0 && s.from <= merged[k-1].to {
			merged[k-1].to = max(merged[k-1].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// highlight draws cmd with the matched ranges in hi, every part made
// printable first so that offsets still refer to the raw bytes.
func highlight(cmd string, spans []span, hi lipgloss.Style) string {
	var b strings.Builder
	at := 0
	for _, s := range spans {
		b.WriteString(printable(cmd[at:s.from]))
		b.WriteString(hi.Render(printable(cmd[s.from:s.to])))
		at = s.to
	}
	b.WriteString(printable(cmd[at:]))
	return b.String()
}
