// Package testtool finds the programs a test drives (shells, for the
// gate's shell tests) by the project's rule for them: a program that is
// not installed skips the test on a developer's machine, but under CI
// (CI=true), where .ci/run installs every one, it fails the test. It is
// for tests only, and lives in the module's own internal/ so that tests
// under bastion/ and cmd/ share it.
package testtool
