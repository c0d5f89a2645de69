// Package testkey makes the throwaway SSH keys tests log in, sign and
// serve with. It is for tests only: each package's tests used to carry the
// same few lines to make one. It lives in the module's own internal/ so
// that tests under cmd/ (the shell fast path's) use it as bastion's do.
package testkey
