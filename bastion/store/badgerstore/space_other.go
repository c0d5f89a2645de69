//go:build !linux

package badgerstore

import "math"

// freeBytes is not measured off Linux: the reserve is not enforced there.
func freeBytes(string) (int64, error) { return math.MaxInt64, nil }

func fallocate(string, int64) error { return errNoFallocate }
