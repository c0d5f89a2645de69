package testaccount

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// NeedRoot returns if the test runs as root, and otherwise ends it: a
// skip if KEYTURN_ROOT_TESTS=sudo says the caller runs it again as root
// (.ci/run does, when it is not root itself), a failure under CI=true,
// else a skip.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("KEYTURN_ROOT_TESTS") == "sudo" {
		t.Skip("not root: the caller runs this test again as root (KEYTURN_ROOT_TESTS=sudo)")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s creates an account and must run as root under CI", t.Name())
	}
	t.Skip("creating an account needs root")
}

// Dir makes a directory, removed when the test ends, that the accounts
// of the test may traverse (mode 0755, root's): their homes, and whatever
// else they must reach, go below it.
func Dir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Account is a real account New added.
type Account struct {
	Name, Home string
	UID, GID   int
}

// New adds an account named prefix and random hex, with its own group,
// no password (it logs in by key only) and shell as its login shell (a
// file that may not exist yet), removed when the test ends. Its home is
// dir/home, with ~/.ssh, both the account's and closed to others as
// sshd's StrictModes wants; dir comes from Dir.
func New(t testing.TB, dir, prefix, shell string) *Account {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	a := &Account{Name: fmt.Sprintf("%s%x", prefix, rnd), Home: filepath.Join(dir, "home")}
	if out, err := exec.Command("useradd", "-M", "-U", "-d", a.Home, "-s", shell, "-p", "*", a.Name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", a.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-f", a.Name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", a.Name, err, out)
		}
	})
	u, err := user.Lookup(a.Name)
	if err != nil {
		t.Fatalf("look up the account just added: %v", err)
	}
	if a.UID, err = strconv.Atoi(u.Uid); err != nil {
		t.Fatalf("uid of %s: %v", a.Name, err)
	}
	if a.GID, err = strconv.Atoi(u.Gid); err != nil {
		t.Fatalf("gid of %s: %v", a.Name, err)
	}
	for _, d := range []string{a.Home, filepath.Join(a.Home, ".ssh")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
	return a
}
