package mpawords_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The words sit below the CLI, the console and the gate: they know no
// SSH, no store and no UI, so each of those can import them.
func TestDepsStayLow(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	banned := []string{
		"github.com/gliderlabs/ssh", "golang.org/x/crypto/ssh", "github.com/dgraph-io/badger",
		"go.etcd.io/etcd", "github.com/charmbracelet/", "github.com/keyturn/keyturn/tui",
		"github.com/keyturn/keyturn/bastion/store", "github.com/keyturn/keyturn/bastion/mpacli",
	}
	for _, d := range deps {
		bad := d == "github.com/keyturn/keyturn/bastion" // the gate itself
		for _, b := range banned {
			bad = bad || strings.HasPrefix(d, b)
		}
		if bad {
			t.Errorf("bastion/mpawords depends on %s", d)
		}
	}
}
