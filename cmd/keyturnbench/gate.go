package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// gateProc is the keyturn gate under test, a process of its own so that
// its memory is its own.
type gateProc struct {
	addr   string
	port   string
	pid    int
	cmd    *exec.Cmd
	exited chan error
	log    string
}

// buildGate compiles cmd/keyturn into dir, so the gate measured is this
// checkout's.
func buildGate(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "keyturn")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/keyturn/keyturn/cmd/keyturn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build cmd/keyturn: %w", err)
	}
	return bin, nil
}

// startGate runs 'keyturn serve' on cfgPath and waits for its address.
func startGate(ctx context.Context, bin, dir, cfgPath string) (*gateProc, error) {
	addrFile := filepath.Join(dir, "gate.addr")
	logPath := filepath.Join(dir, "gate.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--addr-file", addrFile)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start gate: %w", err)
	}
	g := &gateProc{pid: cmd.Process.Pid, cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { g.exited <- cmd.Wait(); logf.Close() }()
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			g.addr = strings.TrimSpace(string(b))
			_, g.port, _ = strings.Cut(g.addr, ":")
			return g, nil
		}
		select {
		case err := <-g.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("gate exited before listening (%v):\n%s", err, log)
		case <-deadline:
			g.stop()
			return nil, fmt.Errorf("gate did not write %s within 30s", addrFile)
		case <-ctx.Done():
			g.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop asks the gate to shut down and kills it if it takes too long.
func (g *gateProc) stop() {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
	}
}
