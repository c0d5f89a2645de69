package config

import (
	"bytes"
	"fmt"
	"os"

	gossh "golang.org/x/crypto/ssh"
)

type parsedKey struct {
	key    gossh.PublicKey
	source string // where in the config the key came from
}

func readAuthorizedKeys(path string) ([]parsedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []parsedKey
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, _, _, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		keys = append(keys, parsedKey{key: key, source: fmt.Sprintf("%s:%d", path, n+1)})
	}
	return keys, nil
}

// HasKey reports whether key is one of the user's keys.
func (u *User) HasKey(key gossh.PublicKey) bool {
	want := key.Marshal()
	for _, k := range u.keys {
		if bytes.Equal(k.key.Marshal(), want) {
			return true
		}
	}
	return false
}
