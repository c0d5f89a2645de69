package etcdstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// sealedPrefix marks a sealed secret: "kt1:" and base64(nonce | ciphertext).
const sealedPrefix = "kt1:"

// sealer encrypts approvers' TOTP secrets with AES-GCM. The approver's
// name and the field are the additional data, so a sealed secret copied
// to another approver (or from PendingSecret to Secret) does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	switch len(key) {
	case 16, 24, 32:
	case 0:
		return nil, fmt.Errorf("no secret key: etcd has no encryption at rest, so approvers' TOTP secrets must be sealed by the gate (store.encryption_key_file)")
	default:
		return nil, fmt.Errorf("secret key is %d bytes, want 16, 24 or 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(name, field, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s of approver %s: %w", field, name, err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(secret), []byte(name+"\x00"+field))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (s *sealer) open(name, field, stored string) (string, error) {
	if stored == "" {
		return "", nil
	}
	b64, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return "", fmt.Errorf("approver %s: %s is stored in the clear; refusing it (was it written without the gate?)", name, field)
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(ct) < s.aead.NonceSize() {
		return "", fmt.Errorf("approver %s: %s: sealed value malformed", name, field)
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, ct[:n], ct[n:], []byte(name+"\x00"+field))
	if err != nil {
		return "", fmt.Errorf("approver %s: %s does not open with this gate's key (wrong key, or tampered)", name, field)
	}
	return string(pt), nil
}

func (s *sealer) sealApprover(a *mpa.Approver) error { return eachSecret(a, s.seal) }

func (s *sealer) openApprover(a *mpa.Approver) error { return eachSecret(a, s.open) }

// eachSecret replaces each of a's secrets with what f makes of it; it is
// the one place that knows which fields of an approver are secret.
func eachSecret(a *mpa.Approver, f func(name, field, v string) (string, error)) error {
	var err error
	if a.Secret, err = f(a.Name, "secret", a.Secret); err != nil {
		return err
	}
	a.PendingSecret, err = f(a.Name, "pending_secret", a.PendingSecret)
	return err
}
