package config

import (
	"strings"
	"testing"
)

func TestSuggestField(t *testing.T) {
	known := []string{"name", "address", "user", "host_keys", "known_hosts"}
	for _, c := range []struct{ got, want string }{
		{"adress", `; did you mean "address"?`},
		{"hots_keys", `; did you mean "host_keys"?`}, // a swap is one edit
		{"hostname", `; did you mean "address"?`},    // a synonym, far in edits
		{"usr", `; did you mean "user"?`},
		{"colour", ""}, // nothing close: no hint rather than a wrong one
		{"x", ""},
	} {
		if got := suggestField(c.got, known); got != c.want {
			t.Errorf("suggestField(%q) = %q; want %q", c.got, got, c.want)
		}
	}
}

// An unknown field in keyturn.yaml is reported at its own line and column
// with the nearest field's name.
func TestUnknownFieldSuggests(t *testing.T) {
	data := "listen: 127.0.0.1:0\ntargets:\n  - name: web-1\n    adress: 127.0.0.1:22\n    user: root\n    host_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq5gCmyiAo/TkpcJTmq2P1eB3FtcHoITV1oNrxmPOWN\"]\nlistne: 1\n"
	_, err := Parse("keyturn.yaml", []byte(data))
	if err == nil {
		t.Fatal("Parse accepted unknown fields")
	}
	for _, want := range []string{
		`keyturn.yaml:4:5: target "web-1": unknown field "adress"; did you mean "address"?`,
		`keyturn.yaml:7:1: top level: unknown field "listne"; did you mean "listen"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error:\n%v\nwant a line %s", err, want)
		}
	}
}
