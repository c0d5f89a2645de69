package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptParams is the shared setup for every testscript in this package.
func scriptParams(t *testing.T, dir string) testscript.Params {
	t.Helper()
	return testscript.Params{
		Dir: dir,
	}
}
