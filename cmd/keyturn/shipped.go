package main

import _ "embed"

// shippedPolicy is the repository's policies.yaml, the demo's default
// policy, so that 'keyturn demo' runs from any folder and from an
// installed binary. go:embed cannot reach ../../policies.yaml, so this is
// a copy; TestShippedPolicyIsTheTopLevelOne keeps it equal byte for byte.
//
//go:embed shipped_policies.yaml
var shippedPolicy []byte
