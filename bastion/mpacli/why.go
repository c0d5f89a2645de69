package mpacli

import (
	"encoding/json"
	"fmt"

	"github.com/keyturn/keyturn/policy"
)

// Bounds on what is stored of a policy decision's explanation. The
// command line is stored once, with the request or event; a match refers
// to it by byte offsets, so a word's text is only a reminder and is cut.
// However the policy explains itself, a stored why never exceeds
// MaxWhyBytes, so a hostile line cannot blow up a request or an audit
// event through it.
const (
	// MaxWordText bounds the text kept of one matched word.
	MaxWordText = 256
	// MaxWhyBytes bounds the encoded why.
	MaxWhyBytes = 16 << 10
)

// TruncatedAction is the Action of the last Match of a why that was cut
// short; its Note says how much was left out.
const TruncatedAction = "(truncated)"

// BoundWhy returns ms within the bounds above: word texts longer than
// MaxWordText are cut (marked with "…"), and matches past MaxWhyBytes are
// left out, replaced by one final Match named [TruncatedAction] that says
// how many. The result is still a []policy.Match, so every reader of a
// stored why (CLI, console) reads it as before, offsets included.
func BoundWhy(ms []policy.Match) []policy.Match {
	out := make([]policy.Match, 0, min(len(ms), 64))
	const marker = 200 // room kept for the truncation marker
	size := 2          // "[]"
	for i, m := range ms {
		m.Words = append([]policy.Word(nil), m.Words...)
		for j := range m.Words {
			if t := m.Words[j].Text; len(t) > MaxWordText {
				m.Words[j].Text = cutUTF8(t, MaxWordText) + "…"
			}
		}
		m.Rule, m.Note = cutUTF8(m.Rule, MaxWordText), cutUTF8(m.Note, MaxWordText)
		m.Action = cutUTF8(m.Action, MaxWordText)
		b, err := json.Marshal(m)
		if err != nil || size+len(b)+1 > MaxWhyBytes-marker {
			omitted := len(ms) - i
			out = append(out, policy.Match{Action: TruncatedAction,
				Note: fmt.Sprintf("%d more match(es) left out: the explanation is bounded to %d bytes", omitted, MaxWhyBytes)})
			return out
		}
		size += len(b) + 1
		out = append(out, m)
	}
	return out
}

// cutUTF8 returns at most n bytes of s, not splitting a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
