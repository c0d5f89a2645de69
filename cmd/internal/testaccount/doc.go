// Package testaccount makes the throwaway real accounts that end-to-end
// tests log in to through a real sshd (cmd/internal/localsshd with
// UserKeys): an account with a login shell of the test's choosing and a
// home as sshd's StrictModes wants it, removed when the test ends. Adding
// an account needs root; NeedRoot holds the project's rule for a test
// that is not root (skip it, fail it under CI, or leave it to the run
// .ci/run makes again under sudo). It is for tests only: cmd/keyturn's
// guard login test and cmd/internal/shellfast's login shell test use it.
package testaccount
