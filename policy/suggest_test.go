package policy

import "testing"

func TestSuggestField(t *testing.T) {
	action := []string{"name", "service", "description", "match", "required_approvals", "pending_ttl", "approval_ttl", "reason", "targets"}
	for _, c := range []struct {
		got  string
		want string
	}{
		{"quorom", `; did you mean "required_approvals"?`}, // a typo of a synonym
		{"quorum", `; did you mean "required_approvals"?`},
		{"requried_approvals", `; did you mean "required_approvals"?`},
		{"descripton", `; did you mean "description"?`},
		{"Match", `; did you mean "match"?`},
		{"target", `; did you mean "targets"?`},
		{"colour", ""},
		{"q", ""},
	} {
		if got := suggestField(c.got, action); got != c.want {
			t.Errorf("suggestField(%q) = %q; want %q", c.got, got, c.want)
		}
	}
	// A synonym whose field is not allowed here suggests nothing.
	if got := suggestField("quorum", []string{"name", "match"}); got != "" {
		t.Errorf("suggestField(quorum) where required_approvals is not a field = %q; want none", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"quorom", "quorum", 1},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", c.a, c.b, got, c.want)
		}
	}
}
