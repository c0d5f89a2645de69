package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"time"
)

// Negotiated is what one path's last hop agreed on, as the client's -v
// output says.
type Negotiated struct {
	Kex    string `json:"kex"`
	Cipher string `json:"cipher"`
}

// negotiated runs `true` once with ssh -v and reads the algorithms the
// client agreed on; with ProxyJump the last ones printed are the target's
// hop. It proves the pinning took and names the defaults.
func negotiated(ctx context.Context, e *env, alg, path string) Negotiated {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", e.sshArgs(alg, "-v", "-o", "LogLevel=DEBUG1", path, "true")...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	cmd.Run()
	var n Negotiated
	sc := bufio.NewScanner(&errOut)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "debug1: kex: algorithm: "); ok {
			n.Kex = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "debug1: kex: server->client cipher: "); ok {
			n.Cipher, _, _ = strings.Cut(v, " ")
		}
	}
	return n
}

// clientDefaults is what the ssh client offers when nothing is pinned.
func clientDefaults(ctx context.Context, e *env) (kex, ciphers string) {
	out, err := exec.CommandContext(ctx, "ssh", e.sshArgs("default", "-G", pathDirect)...).Output()
	if err != nil {
		return "?", "?"
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "kexalgorithms "); ok {
			kex = v
		}
		if v, ok := strings.CutPrefix(line, "ciphers "); ok {
			ciphers = v
		}
	}
	return kex, ciphers
}
