package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/keyturn/keyturn/policy"
)

// The policy embedded for the demo is the repository's policies.yaml, byte
// for byte: edit the top-level file, then copy it here.
func TestShippedPolicyIsTheTopLevelOne(t *testing.T) {
	top, err := os.ReadFile("../../policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(top, shippedPolicy) {
		t.Fatal("cmd/keyturn/shipped_policies.yaml differs from policies.yaml; run: cp policies.yaml cmd/keyturn/shipped_policies.yaml")
	}
	if _, err := policy.Parse("shipped_policies.yaml", shippedPolicy); err != nil {
		t.Fatalf("the shipped policy does not load: %v", err)
	}
}
