package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes in a directory of the test's and
// unmounts it when the test ends. Mounting needs root (and Linux): without
// it the test is skipped, except in CI (CI=true), where it fails.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	err := errors.New("tmpfs needs Linux")
	if runtime.GOOS == "linux" {
		err = syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a %d-byte tmpfs at %s (CI runs as root): %v", size, dir, err)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
