//go:build !unix

package badgerstore

// lockDir relies on Badger's own directory lock where flock is missing.
func lockDir(string) (func(), error) { return func() {}, nil }
