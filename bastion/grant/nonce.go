package grant

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NonceStore records spent nonces as empty files in a directory, one per
// nonce, created with O_EXCL so two guards racing with the same grant cannot
// both win. File names carry the grant's expiry, so entries whose grant can
// no longer verify are removed.
type NonceStore struct {
	Dir string
}

// maxPrune bounds the work one Spend does removing old entries.
const maxPrune = 4096

// Spend records nonce, valid until exp, as used. It fails with ErrReplayed if
// it was spent before, and with the cause if the record cannot be written:
// a grant whose use cannot be recorded does not run.
func (s *NonceStore) Spend(nonce string, exp, now time.Time) error {
	if s == nil || s.Dir == "" {
		return errors.New("grant: no nonce store")
	}
	if len(nonce) != 32 || strings.Trim(nonce, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: nonce", ErrMalformed)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("grant: nonce store: %w", err)
	}
	s.prune(now)
	// The nonce alone decides replay: the expiry in the name is only for
	// pruning, so look for the nonce under any expiry first.
	matches, err := filepath.Glob(filepath.Join(s.Dir, "*-"+nonce))
	if err != nil {
		return fmt.Errorf("grant: nonce store: %w", err)
	}
	if len(matches) > 0 {
		return ErrReplayed
	}
	name := filepath.Join(s.Dir, strconv.FormatInt(exp.Unix(), 10)+"-"+nonce)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("grant: record nonce: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("grant: record nonce: %w", err)
	}
	return f.Close()
}

// prune removes entries whose grant expired more than Skew ago; a grant
// past its expiry is refused before its nonce is looked at.
func (s *NonceStore) prune(now time.Time) {
	d, err := os.Open(s.Dir)
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(maxPrune)
	for _, n := range names {
		ts, _, ok := strings.Cut(n, "-")
		if !ok {
			continue
		}
		exp, err := strconv.ParseInt(ts, 10, 64)
		if err == nil && exp+int64(2*Skew/time.Second) < now.Unix() {
			os.Remove(filepath.Join(s.Dir, n))
		}
	}
}
