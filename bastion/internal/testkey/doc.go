// Package testkey makes the throwaway SSH keys tests log in, sign and
// serve with. It is for tests only: each package's tests used to carry the
// same few lines to make one.
package testkey
