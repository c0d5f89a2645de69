package config

import (
	"bytes"
	"fmt"
	"os"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/krl"
)

type parsedKey struct {
	key    gossh.PublicKey
	source string // where the key came from: a config path, or file:line
	field  string // the config field that holds or names it
}

func readAuthorizedKeys(path string) ([]parsedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []parsedKey
	for n, line := range krl.KeyLines(data) {
		key, _, options, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("%s:%d: %s", path, n, errKeyOptions)
		}
		keys = append(keys, parsedKey{key: key, source: fmt.Sprintf("%s:%d", path, n)})
	}
	return keys, nil
}

// errKeyOptions explains why authorized_keys options are refused: the
// gate does not enforce them, and an operator who wrote from="10.0.0.0/8"
// must not believe it holds.
const errKeyOptions = "key options (from=, restrict, expiry-time=, ...) are not supported: the gate would not enforce them; remove them"

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
