package termsafe

import "testing"

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "kill -9 1", "kill -9 1"},
		{"letters of other scripts stay", "löschen 删除 удалить", "löschen 删除 удалить"},
		{"erase line and carriage return", "kill -9 1 # \x1b[2K\ruptime", `kill -9 1 # \x1b[2K\ruptime`},
		{"newline and tab", "a\nb\tc", `a\nb\tc`},
		{"C1 control", "a\u009bb", `a\x9bb`},
		{"bidi override", "echo \u202eevil", `echo \u202eevil`},
		{"arabic letter mark", "a\u061cb", `a\u061cb`},
		{"zero width space and joiner", "ki\u200bll\u200d", `ki\u200bll\u200d`},
		{"word joiner and invisible times", "a\u2060b\u2062c", `a\u2060b\u2062c`},
		{"soft hyphen", "ki\u00adll", `ki\u00adll`},
		{"line and paragraph separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"hangul fillers", "a\u3164b\u115fc", `a\u3164b\u115fc`},
		{"tag characters", "a\U000E0041b", `a\U000e0041b`},
		{"byte order mark", "\ufeffkill", `\ufeffkill`},
		{"invalid byte", "a\xffb", `a\xffb`},
		{"private use", "a\ue000b", `a\ue000b`},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("%s: String(%q) = %q; want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzString: the output never carries a character String says it hides.
func FuzzString(f *testing.F) {
	f.Add("kill -9 1 # \x1b[2K\ruptime")
	f.Add("echo \u202eevil\u2066")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range String(s) {
			if r < 0x20 || r == 0x7f || hidden(r) {
				t.Fatalf("String(%q) kept %U", s, r)
			}
		}
	})
}
