package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: a config file never panics the loader, and every error it
// gives names the file.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"good.yaml", "unknown_field.yaml", "bad_key.yaml", "wrong_type.yaml", "bad_values.yaml", "syntax.yaml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("users: &a [*a]"))
	f.Add([]byte("listen: [1, 2]\ntargets: {}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.yaml", data)
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
