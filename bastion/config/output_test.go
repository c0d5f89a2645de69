package config

import (
	"strings"
	"testing"
)

func TestOutputMaxBytes(t *testing.T) {
	base := "users: [{name: alice, roles: [admin], keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\"]}]\n" + certTargets
	c, err := Parse("keyturn.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OutputMaxBytes(); got != DefaultOutputMaxBytes {
		t.Errorf("default = %d; want %d", got, DefaultOutputMaxBytes)
	}
	c, err = Parse("keyturn.yaml", []byte("output: {max_bytes: 4096}\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OutputMaxBytes(); got != 4096 {
		t.Errorf("max_bytes 4096 read as %d", got)
	}
	for _, bad := range []string{"-1", "1000000000"} {
		_, err := Parse("keyturn.yaml", []byte("output: {max_bytes: "+bad+"}\n"+base))
		if err == nil || !strings.Contains(err.Error(), "keyturn.yaml:1:21: output.max_bytes: want 0") {
			t.Errorf("max_bytes %s: %v", bad, err)
		}
	}
}
