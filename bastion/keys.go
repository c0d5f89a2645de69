package bastion

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// Key files the gate keeps in its data dir.
const (
	HostKeyFile   = "host_ed25519"   // the gate's SSH host key, shown to admins
	ClientKeyFile = "client_ed25519" // the key the gate logs in to targets with
)

// LoadOrCreateKey returns the private key at path, creating an ed25519 key
// there (mode 0600, OpenSSH format) if there is none. Creation is exclusive,
// so two processes racing to create the key agree on one.
func LoadOrCreateKey(path string) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create key %s: %w", path, err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", path, err)
	}
	return signer, nil
}

func createKey(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := gossh.MarshalPrivateKey(priv, "keyturn")
	if err != nil {
		return err
	}
	// Write to a temporary file and link it into place: a reader never sees
	// a half-written key, and an existing key is never replaced.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// AuthorizedKey formats a public key as an authorized_keys line.
func AuthorizedKey(pub gossh.PublicKey, comment string) string {
	line := string(gossh.MarshalAuthorizedKey(pub))
	line = line[:len(line)-1] // MarshalAuthorizedKey ends with a newline
	if comment != "" {
		line += " " + comment
	}
	return line
}
