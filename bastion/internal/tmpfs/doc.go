// Package tmpfs gives tests a small file system of their own, to fill up:
// the store's full-disk handling is tested on a real one, not a fake.
package tmpfs
