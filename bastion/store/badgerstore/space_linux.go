package badgerstore

import (
	"errors"
	"os"
	"syscall"
)

// freeBytes is the space on dir's file system available to this process
// (statfs f_bavail: blocks reserved for root are not counted).
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// fallocate allocates blocks for the first size bytes of path without
// changing its contents or size.
func fallocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return errNoFallocate
	}
	return err
}
