package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadGood(t *testing.T) {
	c, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.DataDir, filepath.Join("testdata", "data"); got != want {
		t.Errorf("DataDir = %q; want %q (relative to the config file)", got, want)
	}
	if got := c.ShutdownGrace.Std(); got != DefaultShutdownGrace {
		t.Errorf("ShutdownGrace = %v; want default %v", got, DefaultShutdownGrace)
	}
	if got := c.TOTP.LockoutDuration.Std(); got != 5*time.Minute {
		t.Errorf("LockoutDuration = %v; want 5m", got)
	}
	alice, ok := c.User("alice")
	if !ok || !alice.HasRole(RoleAdmin) || alice.HasRole(RoleApprover) {
		t.Fatalf("alice = %+v; want an admin who is not an approver", alice)
	}
	if !alice.CanReach("web-1") || alice.CanReach("db-1") {
		t.Errorf("alice's globs %v: want web-1 reachable and db-1 not", alice.Targets)
	}
	bob, _ := c.User("bob")
	if len(bob.keys) != 1 || !strings.HasPrefix(bob.keys[0].source, filepath.Join("testdata", "bob.keys")+":2") {
		t.Errorf("bob's keys = %+v; want one from bob.keys line 2", bob.keys)
	}
	if !bob.HasKey(bob.keys[0].key) || bob.HasKey(alice.keys[0].key) {
		t.Errorf("bob.HasKey: want his own key from bob.keys and not alice's")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // every line of the error, in order
	}{
		{"unknown_field.yaml", []string{
			`testdata/unknown_field.yaml:5:5: user "alice": unknown field "kyes"; did you mean "keys"?`,
		}},
		{"bad_key.yaml", []string{
			`testdata/bad_key.yaml:6:9: user "alice": keys[1]: not an authorized_keys line: ssh: no key found; last parsing error for ignored line: illegal base64 data at input byte 3`,
		}},
		{"wrong_type.yaml", []string{
			`testdata/wrong_type.yaml:3:12: user "alice": roles: want a list, got "admin"`,
			`testdata/wrong_type.yaml:6:22: totp.lockout_threshold: want a int, got "many"`,
		}},
		{"bad_values.yaml", []string{
			`testdata/bad_values.yaml:16:17: shutdown_grace: want a duration such as 30s or 168h, got "soon"`,
		}},
		{"syntax.yaml", []string{
			`testdata/syntax.yaml:1:1: did not find expected '-' indicator`,
		}},
		{"missing.yaml", []string{
			`read config: open testdata/missing.yaml: no such file or directory`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatalf("Load(%s) = nil error; want %q", tt.file, tt.want)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Load(%s) error mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// Semantic checks run only once the file decodes; each names its value.
func TestLoadSemanticErrors(t *testing.T) {
	data := strings.Replace(mustRead(t, "testdata/bad_values.yaml"), "shutdown_grace: soon\n", "", 1)
	_, err := Parse("bad.yaml", []byte(data))
	want := []string{
		`bad.yaml:1:9: listen: want host:port, got "2222"`,
		`bad.yaml:3:11: users[0].name: want letters, digits, '.', '_' or '-', got "alice+web"`,
		`bad.yaml:4:20: users[0].roles[1]: unknown role "root" (want admin, approver or auditor)`,
		`bad.yaml:6:15: users[0].targets[0]: bad glob "web-[1"`,
		`bad.yaml:7:5: users[1]: user "bob" has no keys (set keys or authorized_keys)`,
		`bad.yaml:10:14: targets[0].address: want host:port, got "nowhere"`,
		`bad.yaml:9:5: targets[0]: target "web-1" has no host keys (set host_keys or known_hosts)`,
		`bad.yaml:12:11: targets[1].name: target "web-1" defined twice`,
	}
	if err == nil {
		t.Fatal("Parse(bad_values) = nil error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}

// One key is one person: a key listed for two users is refused (its holder
// could approve as the other), and so are authorized_keys options, which
// the gate would not enforce.
func TestLoadRefusesSharedKeysAndOptions(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	data := "users:\n" +
		"  - name: alice\n    roles: [admin]\n    keys: [\"" + key + " a\"]\n" +
		"  - name: bob\n    roles: [approver]\n    keys: [\"" + key + " b\"]\n" +
		"  - name: carol\n    roles: [approver]\n    keys: ['from=\"10.0.0.0/8\" " + key + " c']\n"
	_, err := Parse("shared.yaml", []byte(data))
	want := []string{
		`shared.yaml:10:12: user "carol": keys[0]: key options (from=, restrict, expiry-time=, ...) are not supported: the gate would not enforce them; remove them`,
		`shared.yaml:7:12: user "bob": keys[0]: key SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU is also alice's; one key is one person`,
	}
	if err == nil {
		t.Fatal("Parse(shared key, key options) = nil error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}

// max_command_line and store.reserve take sizes with binary units, have
// defaults, and are bounded.
func TestSizes(t *testing.T) {
	c, err := Parse("k.yaml", []byte("max_command_line: 16KiB\nstore:\n  reserve: 1GiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxCommandLine != 16<<10 || c.Store.Reserve != 1<<30 {
		t.Errorf("sizes = %d, %d", c.MaxCommandLine, c.Store.Reserve)
	}
	c, err = Parse("k.yaml", []byte("listen: 127.0.0.1:2222\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxCommandLine != DefaultMaxCommandLine || c.Store.Reserve != DefaultReserve {
		t.Errorf("defaults = %d, %d", c.MaxCommandLine, c.Store.Reserve)
	}
	for text, want := range map[string]string{
		"max_command_line: 100\n":   "k.yaml:1:19: max_command_line: want 1KiB to 256KiB, got 100 bytes",
		"max_command_line: 1MiB\n":  "k.yaml:1:19: max_command_line: want 1KiB to 256KiB, got 1048576 bytes",
		"max_command_line: 64KB\n":  `k.yaml:1:19: max_command_line: want a size such as 65536, 64KiB or 256MiB, got "64KB"`,
		"max_command_line: -1\n":    `k.yaml:1:19: max_command_line: want a size such as 65536, 64KiB or 256MiB, got "-1"`,
		"store:\n  reserve: lots\n": `k.yaml:2:12: store.reserve: want a size such as 65536, 64KiB or 256MiB, got "lots"`,
	} {
		_, err := Parse("k.yaml", []byte(text))
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v; want %s", text, err, want)
		}
	}
}
