package config

import (
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/krl"
)

// CertClockSkew is how far outside a certificate's validity window the
// gate's clock may be and still accept it: clocks of the CA, the gate and
// the client drift, and a certificate signed "from now" would otherwise
// fail on a gate a few seconds behind. It is small against the hours a
// short-lived certificate lasts, and sshd has none.
const CertClockSkew = 30 * time.Second

// checkUserCAs parses user_ca_keys and user_ca_keys_file, and checks that
// revoked_keys can be read.
func (v *validator) checkUserCAs(c *Config) {
	for j, line := range c.UserCAKeys {
		kp := fmt.Sprintf("user_ca_keys[%d]", j)
		key, err := parseCAKey([]byte(line))
		if err != nil {
			v.errorf(v.at(kp), "%s: %v", kp, err)
			continue
		}
		c.userCAs = append(c.userCAs, parsedKey{key: key, source: kp, field: kp})
	}
	if c.UserCAKeysFile != "" {
		data, err := os.ReadFile(c.UserCAKeysFile)
		if err != nil {
			v.errorf(v.at("user_ca_keys_file"), "user_ca_keys_file: %v", err)
		}
		n := 0
		for i, line := range krl.KeyLines(data) {
			key, err := parseCAKey(line)
			if err != nil {
				v.errorf(v.at("user_ca_keys_file"), "user_ca_keys_file: %s:%d: %v", c.UserCAKeysFile, i, err)
				continue
			}
			n++
			c.userCAs = append(c.userCAs, parsedKey{key: key, source: fmt.Sprintf("%s:%d", c.UserCAKeysFile, i), field: "user_ca_keys_file"})
		}
		if err == nil && n == 0 {
			v.errorf(v.at("user_ca_keys_file"), "user_ca_keys_file: %s holds no keys", c.UserCAKeysFile)
		}
	}
	if c.RevokedKeys != "" {
		if _, err := ReadRevokedKeys(c.RevokedKeys); err != nil {
			v.errorf(v.at("revoked_keys"), "revoked_keys: %v", err)
		}
	}
}

// parseCAKey reads one CA key line. Options are refused as for user keys
// (sshd's cert-authority options would not be enforced); a certificate
// cannot be a CA key.
func parseCAKey(line []byte) (gossh.PublicKey, error) {
	key, _, options, _, err := gossh.ParseAuthorizedKey(line)
	if err != nil {
		return nil, fmt.Errorf("not a public key line: %v", err)
	}
	if len(options) > 0 {
		return nil, fmt.Errorf("%s", errKeyOptions)
	}
	if _, ok := key.(*gossh.Certificate); ok {
		return nil, fmt.Errorf("a certificate is not a CA key; give the CA's public key")
	}
	return key, nil
}

// ReadRevokedKeys reads a revoked_keys file (an OpenSSH KRL or a plain key
// list). The gate calls it again whenever the file changes.
func ReadRevokedKeys(path string) (*krl.List, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := krl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// checkPrincipals refuses a principal that would name two users: whoever
// held a certificate for it could be either, and approve their own
// request as the other one. Principals without a CA are refused too: no
// certificate could ever carry them to the gate.
func (v *validator) checkPrincipals(c *Config) {
	owner := make(map[string]string)
	for i := range c.Users {
		u := &c.Users[i]
		p := fmt.Sprintf("users[%d]", i)
		if len(u.Principals) > 0 && len(c.userCAs) == 0 && len(c.UserCAKeys) == 0 && c.UserCAKeysFile == "" {
			v.errorf(v.at(p+".principals"), "%s.principals: set user_ca_keys or user_ca_keys_file too; without a CA no certificate can name a principal", p)
		}
		for j, pr := range u.PrincipalNames() {
			field := fmt.Sprintf("%s.principals[%d]", p, j)
			if len(u.Principals) == 0 {
				field = p + ".name" // the default principal
			}
			if pr == "" || strings.IndexFunc(pr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' }) >= 0 {
				v.errorf(v.at(field), "%s: principal %q: want no spaces, commas or control characters", field, pr)
				continue
			}
			if other, ok := owner[pr]; ok && other != u.Name {
				v.errorf(v.at(field), "%s: principal %q is also user %s's; a principal must map to exactly one user", field, pr, other)
				continue
			}
			owner[pr] = u.Name
		}
	}
}

// PrincipalNames returns the certificate principals that are u: its
// principals, or its name when it lists none.
func (u *User) PrincipalNames() []string {
	if len(u.Principals) == 0 {
		return []string{u.Name}
	}
	return u.Principals
}

// HasPrincipal reports whether principal is one of u's.
func (u *User) HasPrincipal(principal string) bool {
	for _, p := range u.PrincipalNames() {
		if p == principal {
			return true
		}
	}
	return false
}

// UserCAs returns the trusted user certificate authorities' keys.
func (c *Config) UserCAs() []gossh.PublicKey {
	out := make([]gossh.PublicKey, len(c.userCAs))
	for i, k := range c.userCAs {
		out[i] = k.key
	}
	return out
}

// IsUserCA reports whether key is a trusted user CA's key.
func (c *Config) IsUserCA(key gossh.PublicKey) bool {
	want := string(key.Marshal())
	for _, k := range c.userCAs {
		if string(k.key.Marshal()) == want {
			return true
		}
	}
	return false
}
