//go:build !linux

package main

import (
	"fmt"
	"os"

	"github.com/keyturn/keyturn/bastion/guard"
)

func main() {
	fmt.Fprintln(os.Stderr, "keyturn-guard: only Linux is supported")
	os.Exit(guard.ExitInternal)
}
