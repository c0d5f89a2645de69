package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/store/etcdstore"
)

// StoreDir is the store's folder inside the data dir.
const StoreDir = "store"

// ClosableStore is a store the gate opens and closes.
type ClosableStore interface {
	mpa.Store
	Close() error
}

// OpenStore opens the configured store: the data dir's Badger store (only
// one process may have it open), or the etcd cluster the gates share.
func OpenStore(cfg *config.Config, log *slog.Logger) (ClosableStore, error) {
	var key []byte
	if cfg.Store.EncryptionKeyFile != "" {
		k, err := os.ReadFile(cfg.Store.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("store encryption key: %w", err)
		}
		key = k // raw key bytes, as 'head -c 32 /dev/urandom' writes them
	}
	if cfg.Store.Backend == config.BackendEtcd {
		return openEtcd(cfg, key, log)
	}
	return badgerstore.Open(badgerstore.Options{Dir: filepath.Join(cfg.DataDir, StoreDir), EncryptionKey: key, Logger: log,
		Reserve: cfg.Store.Reserve.Bytes()})
}

// openEtcd connects to the configured etcd cluster, with mutual TLS when
// configured; key seals approvers' TOTP secrets.
func openEtcd(cfg *config.Config, key []byte, log *slog.Logger) (ClosableStore, error) {
	opts := etcdstore.Options{Endpoints: cfg.Store.Endpoints, Prefix: cfg.Store.Prefix, SecretKey: key, Logger: log,
		SessionTTL: cfg.Store.LeaseTTL.Std(), Chain: cfg.GateID}
	if t := cfg.Store.TLS; t.CA != "" {
		tc, err := etcdstore.TLSConfig(t.CA, t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	return etcdstore.Open(opts)
}
