package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"keyturn":      func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"keyturn-etcd": etcdProcessMain, // a real etcd process for the multi-gate scripts
		"keyturn-hook": hookProcessMain, // a webhook receiver that logs each delivery
	})
}

// TestScript runs the end-to-end scripts in testdata/script against the real
// keyturn binary.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}
