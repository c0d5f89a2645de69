package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/keyturn/keyturn/bastion"
)

// algSet is one choice of key exchange and cipher. Pinned sets are pinned
// on the client and on the target's sshd, so that the gate's own hop to the
// target negotiates the same ones as the client's hop.
type algSet struct {
	Name   string `json:"name"`
	Kex    string `json:"kex"`    // "" means the client's defaults
	Cipher string `json:"cipher"` // "" means the client's defaults
}

var algSets = []algSet{
	{Name: "aes", Kex: "curve25519-sha256", Cipher: "aes128-gcm@openssh.com"},
	{Name: "chacha", Kex: "curve25519-sha256", Cipher: "chacha20-poly1305@openssh.com"},
	{Name: "default"},
}

func (a algSet) sshdLines() string {
	if a.Kex == "" {
		return ""
	}
	return fmt.Sprintf("KexAlgorithms %s\nCiphers %s\n", a.Kex, a.Cipher)
}

// The three ways to a target, as Host aliases in every generated ssh_config.
const (
	pathDirect    = "direct"
	pathProxyJump = "proxyjump"
	pathKeyturn   = "keyturn"
)

var paths = []string{pathDirect, pathProxyJump, pathKeyturn}

// env is everything the harness started.
type env struct {
	dir       string
	user      string
	alice     string               // the admin's private key file
	approvers []string             // approver names; their keys are keys/NAME
	targets   map[string]*sshdHost // by alg set name
	jump      *sshdHost
	gate      *gateProc
	sshConfig map[string]string // ssh_config file by alg set name
	bin       string            // the keyturn binary
	alicePub  string
}

func setup(ctx context.Context, o options) (e *env, err error) {
	dir, err := os.MkdirTemp("", "keyturnbench-")
	if err != nil {
		return nil, err
	}
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	e = &env{dir: dir, user: me.Username, targets: map[string]*sshdHost{}, sshConfig: map[string]string{}}
	defer func() {
		if err != nil {
			e.close(o.keep)
		}
	}()

	bin := o.gateBin
	if bin == "" {
		if bin, err = buildGate(ctx, dir); err != nil {
			return e, err
		}
	}
	keys := filepath.Join(dir, "keys")
	alicePub, err := writeKey(filepath.Join(keys, "alice"))
	if err != nil {
		return e, err
	}
	e.alice = filepath.Join(keys, "alice")
	for i := 1; i <= o.approvers; i++ {
		name := fmt.Sprintf("a%02d", i)
		if _, err := writeKey(filepath.Join(keys, name)); err != nil {
			return e, err
		}
		e.approvers = append(e.approvers, name)
	}
	// The gate's client key is made now, so targets can accept it before
	// the gate starts.
	dataDir := filepath.Join(dir, "gate-data")
	gateClient, err := bastion.LoadOrCreateKey(filepath.Join(dataDir, bastion.ClientKeyFile))
	if err != nil {
		return e, fmt.Errorf("gate client key: %w", err)
	}
	gateHost, err := bastion.LoadOrCreateKey(filepath.Join(dataDir, bastion.HostKeyFile))
	if err != nil {
		return e, fmt.Errorf("gate host key: %w", err)
	}
	authKeys := alicePub + "\n" + bastion.AuthorizedKey(gateClient.PublicKey(), "keyturn-gate") + "\n"
	e.bin, e.alicePub = bin, alicePub

	for _, a := range algSets {
		h, err := startSSHD(ctx, dir, "t-"+a.Name, authKeys, a.sshdLines())
		if err != nil {
			return e, err
		}
		e.targets[a.Name] = h
	}
	if e.jump, err = startSSHD(ctx, dir, "jump", authKeys, ""); err != nil {
		return e, err
	}

	cfgPath, err := e.writeGateConfig(dataDir, alicePub, o.policies)
	if err != nil {
		return e, err
	}
	if e.gate, err = startGate(ctx, bin, dir, cfgPath); err != nil {
		return e, err
	}
	return e, e.writeSSHConfigs(bastion.AuthorizedKey(gateHost.PublicKey(), ""))
}

func writeKey(path string) (string, error) {
	key, err := bastion.LoadOrCreateKey(path)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", path, err)
	}
	line := bastion.AuthorizedKey(key.PublicKey(), filepath.Base(path))
	return line, os.WriteFile(path+".pub", []byte(line+"\n"), 0o644)
}

func (e *env) writeGateConfig(dataDir, alicePub, policies string) (string, error) {
	pol, err := filepath.Abs(policies)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\ndata_dir: %s\npolicies: %s\nshutdown_grace: 2s\n", dataDir, pol)
	// The concurrency run is one admin opening up to 500 connections at
	// once from 127.0.0.1: the per-user and per-source defaults (64 and
	// 32, a defence against one client hogging the gate) would refuse
	// most of them, which is not what the run measures.
	fmt.Fprintf(&b, "limits:\n  max_connections_per_user: 1000\n  max_unauthenticated_per_source: 1000\nusers:\n")
	fmt.Fprintf(&b, "  - name: alice\n    roles: [admin]\n    keys: [%q]\n    targets: [\"*\"]\n", alicePub)
	for _, name := range e.approvers {
		pub, err := os.ReadFile(filepath.Join(e.dir, "keys", name+".pub"))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  - name: %s\n    roles: [approver]\n    keys: [%q]\n", name, strings.TrimSpace(string(pub)))
	}
	b.WriteString("targets:\n")
	for _, a := range algSets {
		t := e.targets[a.Name]
		fmt.Fprintf(&b, "  - name: t-%s\n    address: %s\n    user: %s\n    host_keys: [%q]\n", a.Name, t.addr, e.user, t.hostKey)
	}
	path := filepath.Join(e.dir, "keyturn.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeSSHConfigs writes one ssh_config per alg set with the Host aliases
// direct, proxyjump and keyturn, plus "gatecmd" (the gate's own command
// namespace, login and key given per call). ProxyJump's inner ssh reads
// the same file but not the command line's -o options, so the algorithms
// are pinned here rather than on the command line.
func (e *env) writeSSHConfigs(gateHostKey string) error {
	var known strings.Builder
	for _, h := range append([]*sshdHost{e.jump}, e.targetList()...) {
		fmt.Fprintf(&known, "[127.0.0.1]:%s %s\n", h.port, h.hostKey)
	}
	fmt.Fprintf(&known, "[127.0.0.1]:%s %s\n", e.gate.port, gateHostKey)
	knownPath := filepath.Join(e.dir, "known_hosts")
	if err := os.WriteFile(knownPath, []byte(known.String()), 0o644); err != nil {
		return err
	}
	for _, a := range algSets {
		t := e.targets[a.Name]
		var b strings.Builder
		fmt.Fprintf(&b, "Host direct\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n\n", t.port, e.user, e.alice)
		fmt.Fprintf(&b, "Host jump\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n\n", e.jump.port, e.user, e.alice)
		fmt.Fprintf(&b, "Host proxyjump\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  ProxyJump jump\n\n", t.port, e.user, e.alice)
		fmt.Fprintf(&b, "Host keyturn\n  HostName 127.0.0.1\n  Port %s\n  User alice+t-%s\n  IdentityFile %s\n\n", e.gate.port, a.Name, e.alice)
		fmt.Fprintf(&b, "Host gatecmd\n  HostName 127.0.0.1\n  Port %s\n\n", e.gate.port)
		fmt.Fprintf(&b, "Host *\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  CheckHostIP no\n  UpdateHostKeys no\n  IdentitiesOnly yes\n  BatchMode yes\n  LogLevel ERROR\n  ControlPath none\n", knownPath)
		if a.Kex != "" {
			fmt.Fprintf(&b, "  KexAlgorithms %s\n  Ciphers %s\n", a.Kex, a.Cipher)
		}
		path := filepath.Join(e.dir, "ssh_config-"+a.Name)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return err
		}
		e.sshConfig[a.Name] = path
	}
	return nil
}

func (e *env) targetList() []*sshdHost {
	var hs []*sshdHost
	for _, a := range algSets {
		if h := e.targets[a.Name]; h != nil {
			hs = append(hs, h)
		}
	}
	return hs
}

// close stops everything the harness started and removes its directory
// unless keep is set.
func (e *env) close(keep bool) error {
	if e.gate != nil {
		e.gate.stop()
	}
	for _, h := range e.targetList() {
		h.stop()
	}
	if e.jump != nil {
		e.jump.stop()
	}
	if keep {
		fmt.Fprintf(os.Stderr, "keyturnbench: kept %s\n", e.dir)
		return nil
	}
	return errors.Join(os.RemoveAll(e.dir))
}
