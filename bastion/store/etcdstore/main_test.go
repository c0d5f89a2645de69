package etcdstore

import "os"

func tempDir() (string, error) { return os.MkdirTemp("", "keyturn-etcd-") }
func removeAll(dir string)     { os.RemoveAll(dir) }
func exit(code int)            { os.Exit(code) }
