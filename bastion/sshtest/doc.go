// Package sshtest is what tests that speak SSH to real processes share:
// a throwaway key ([Signer]), a server served on loopback for the test's
// length ([Serve]), one command run as a test client runs it
// ([Run], [RunOn]: log in with a key, trust only the server's host key,
// collect stdout, stderr and the exit status), and the programs such a
// test drives, found by the project's rule ([Tool], [LookTool]): one that
// is not installed skips the test on a developer's machine but fails it
// under CI (CI=true), where .ci/run installs every one.
//
// It is for tests only. It is not internal because the gate's tests
// (bastion/...) and the end-to-end tests under cmd/ both use it, and the
// top level of the module holds no internal/ folder.
package sshtest
