package bastion

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreatesOnceAndReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", ClientKeyFile)
	first, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKey: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o; want 600", mode)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateKey: %v", err)
	}
	if AuthorizedKey(first.PublicKey(), "") != AuthorizedKey(again.PublicKey(), "") {
		t.Error("second load returned a different key; want the one created first")
	}
}

// Two gates (or serve and pubkey) starting at once must end up with one key.
func TestLoadOrCreateKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), HostKeyFile)
	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadOrCreateKey(path)
			if err != nil {
				t.Errorf("LoadOrCreateKey: %v", err)
				return
			}
			keys[i] = AuthorizedKey(s.PublicKey(), "")
		}()
	}
	wg.Wait()
	for i := range keys {
		if keys[i] != keys[0] {
			t.Fatalf("goroutine %d got key %q; goroutine 0 got %q", i, keys[i], keys[0])
		}
	}
}

func TestLoadOrCreateKeyRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), HostKeyFile)
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("LoadOrCreateKey(garbage) = nil error; want a parse error")
	}
}
