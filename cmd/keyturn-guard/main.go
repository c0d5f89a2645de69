//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/bastion/guard/trace"
	"github.com/keyturn/keyturn/policy"
)

func init() {
	// The main goroutine stays on the main thread: in the child so that
	// the exec comes from the traced leader, in the guard so that the
	// tracer is the thread that lives as long as the process.
	runtime.LockOSThread()
}

func main() {
	if trace.IsChild() {
		trace.ChildMain()
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// config is what the guard reads beside its executable.
type config struct {
	key    ssh.PublicKey
	policy *policy.Policy
	digest string
	target string
	shell  string
}

// notShared fails if path (a file or directory, symlinks followed) may be
// written by a group or by others: whoever can change gate.pub signs his own
// grants, whoever can change policies.yaml decides what is privileged.
func notShared(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s: writable by group or others (mode %v); the guard's files must be writable by root only", path, fi.Mode().Perm())
	}
	return nil
}

func loadConfig(dir string) (*config, error) {
	c := &config{shell: "/bin/bash"}
	for _, name := range []string{"", "gate.pub", "policies.yaml", "target", "shell"} {
		if err := notShared(filepath.Join(dir, name)); err != nil && !(name == "shell" && errors.Is(err, os.ErrNotExist)) {
			return nil, err
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "gate.pub"))
	if err != nil {
		return nil, err
	}
	if c.key, _, _, _, err = ssh.ParseAuthorizedKey(pub); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "gate.pub"), err)
	}
	ppath := filepath.Join(dir, "policies.yaml")
	data, err := os.ReadFile(ppath)
	if err != nil {
		return nil, err
	}
	if c.policy, err = policy.Parse(ppath, data); err != nil {
		return nil, err
	}
	c.digest = grant.PolicyDigest(data)
	t, err := os.ReadFile(filepath.Join(dir, "target"))
	if err != nil {
		return nil, err
	}
	if c.target = strings.TrimSpace(string(t)); c.target == "" {
		return nil, fmt.Errorf("%s: empty", filepath.Join(dir, "target"))
	}
	switch s, err := os.ReadFile(filepath.Join(dir, "shell")); {
	case err == nil:
		c.shell = strings.TrimSpace(string(s))
		if !filepath.IsAbs(c.shell) {
			return nil, fmt.Errorf("%s: not an absolute path", filepath.Join(dir, "shell"))
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return c, nil
}

// command returns what sshd asked the guard to run: `-c CMD` as a login
// shell, or SSH_ORIGINAL_COMMAND under a ForceCommand (a stand-in for
// setups, and tests, that cannot change an account's shell).
func command(args []string) (string, bool) {
	if len(args) == 3 && args[1] == "-c" {
		return args[2], true
	}
	if len(args) == 1 {
		return os.LookupEnv("SSH_ORIGINAL_COMMAND")
	}
	return "", false
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd, ok := command(args)
	if !ok {
		fmt.Fprintln(stderr, "keyturn-guard: this account runs only commands sent by the keyturn gate")
		return guard.ExitUsage
	}
	if cmd == guard.ProbeCommand {
		fmt.Fprintln(stdout, guard.ProbeAnswer)
		return 0
	}
	if !strings.HasPrefix(cmd, grant.Prefix) {
		fmt.Fprintln(stderr, "keyturn-guard: refused: not a grant from the keyturn gate")
		return guard.ExitUsage
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: own path: %v\n", err)
		return guard.ExitInternal
	}
	cfg, err := loadConfig(filepath.Dir(exe))
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: config: %v\n", err)
		return guard.ExitInternal
	}
	home, err := os.UserHomeDir()
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: %v\n", err)
		return guard.ExitInternal
	}
	store := &grant.NonceStore{Dir: filepath.Join(home, ".keyturn-guard", "nonces")}
	g, err := grant.Verify(cmd, cfg.key, cfg.target, cfg.digest, time.Now(), store)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: refused: %v\n", err)
		return guard.ExitGrant
	}
	res, err := trace.Run(trace.Config{
		Argv:    []string{cfg.shell, "--norc", "--noprofile", "-c", g.Line},
		Env:     cleanEnv(os.Environ()),
		Decider: &guard.Decider{Policy: cfg.policy, Target: cfg.target, Granted: g.Actions},
	})
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "keyturn-guard: %v (the line was stopped)\n", err)
		return guard.ExitInternal
	case res.Blocked != nil:
		r := guard.Report{Deny: res.Blocked.Deny, Actions: res.Blocked.Actions, Observed: res.Blocked.Observed}
		if err := r.Write(stderr); err != nil {
			return guard.ExitInternal
		}
		if r.Deny {
			return guard.ExitDenied
		}
		return guard.ExitBlocked
	case !res.Started:
		return guard.ExitInternal
	case res.Exit >= guard.ExitUsage && res.Exit <= guard.ExitGrant:
		fmt.Fprintf(stderr, "keyturn-guard: the line exited with %d, a status of the guard's own; exiting %d\n", res.Exit, guard.ExitCollided)
		return guard.ExitCollided
	}
	return res.Exit
}

// cleanEnv drops what would make the shell run code before the line:
// BASH_ENV and ENV are read by non-interactive shells, exported functions
// and SHELLOPTS change how the line runs.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "BASH_ENV", k == "ENV", k == "SHELLOPTS", k == "BASHOPTS", k == "PS4",
			strings.HasPrefix(k, "BASH_FUNC_"):
			continue
		}
		out = append(out, kv)
	}
	return out
}
