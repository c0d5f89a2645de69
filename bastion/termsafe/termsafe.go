// Package termsafe makes untrusted text safe to show on a terminal.
//
// Command lines, reasons and comments come from requesters and approvers.
// Shown raw, an escape sequence or an invisible character can make an
// approver read something other than what will run: "\x1b[2K\r" erases
// what came before, bidi controls reorder it, zero-width characters hide
// in it. String shows every such character as a visible escape instead.
package termsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every character that is not plainly visible
// written as an escape: \t, \n and \r by name, other controls as \xNN,
// and format characters (bidi controls, zero-width characters, tags),
// line and paragraph separators, Hangul fillers and invalid bytes as
// \uNNNN. Everything else, including letters of every script, is kept.
func String(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case hidden(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// hidden reports whether r changes how text reads without showing itself.
func hidden(r rune) bool {
	switch r {
	case 0x115f, 0x1160, 0x3164, 0xffa0, // Hangul fillers: blank but not space
		utf8.RuneError:
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs)
}

// isPlain is the fast path: printable ASCII needs no escaping.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
