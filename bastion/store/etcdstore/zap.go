package etcdstore

import "go.uber.org/zap"

// zapNop silences the etcd client's own logger; the store logs what
// matters through slog.
func zapNop() *zap.Logger { return zap.NewNop() }
