package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// sshArgs is the command line for the real ssh client with alg set alg's
// config.
func (e *env) sshArgs(alg string, args ...string) []string {
	return append([]string{"-F", e.sshConfig[alg]}, args...)
}

// ssh runs the ssh client to completion and returns how long it took, from
// just before the process starts to its exit, and its stdout.
func (e *env) ssh(ctx context.Context, timeout time.Duration, alg string, args ...string) (time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", e.sshArgs(alg, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return took, out.Bytes(), fmt.Errorf("ssh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return took, out.Bytes(), nil
}

// sshCount runs the ssh client and counts the bytes of its stdout, read in
// large blocks so the harness costs as little CPU as it can.
func (e *env) sshCount(ctx context.Context, timeout time.Duration, alg string, args ...string) (time.Duration, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", e.sshArgs(alg, args...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start ssh: %w", err)
	}
	n, copyErr := io.CopyBuffer(io.Discard, stdout, make([]byte, 1<<20))
	err = cmd.Wait()
	took := time.Since(start)
	if err == nil {
		err = copyErr
	}
	if err != nil {
		return took, n, fmt.Errorf("ssh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return took, n, nil
}
