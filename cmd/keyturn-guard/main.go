//go:build linux

package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

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
	// Not dumpable: no process of the account (the traced tree included)
	// may ptrace the guard, read or write its memory (/proc/PID/mem,
	// process_vm_readv) or read its environ. The tracer holds the grant
	// and the decider; a tree that could write them would decide for
	// itself. Set before anything is read; the child the guard re-executes
	// is dumpable again after its exec, so the tracer can still seize it.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "keyturn-guard: PR_SET_DUMPABLE: %v\n", err)
		os.Exit(guard.ExitInternal)
	}
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// config is what the guard reads beside its executable.
type config struct {
	key ssh.PublicKey
	// policyPath and policyData are the policy file; it is parsed apart
	// ([config.parsePolicy]), overlapped with the handshake and the
	// child's start, since parsing is most of a start's cost.
	policyPath string
	policyData []byte
	digest     string
	target     string
	shell      string
}

// parsePolicy parses the policy file read by loadConfig.
func (c *config) parsePolicy() (*policy.Policy, error) {
	return policy.Parse(c.policyPath, c.policyData)
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
	c.policyPath = filepath.Join(dir, "policies.yaml")
	if c.policyData, err = os.ReadFile(c.policyPath); err != nil {
		return nil, err
	}
	c.digest = grant.PolicyDigest(c.policyData)
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
// setups, and tests, that cannot change an account's shell). The only
// commands the guard knows are guard.Command and guard.ProbeCommand; the
// line itself comes in the grant, on stdin.
func command(args []string) (string, bool) {
	if len(args) == 3 && args[1] == "-c" {
		return args[2], true
	}
	if len(args) == 1 {
		return os.LookupEnv("SSH_ORIGINAL_COMMAND")
	}
	return "", false
}

// grantWait bounds how long the guard waits for the gate's grant after
// its challenge; the gate sends it at once.
const grantWait = time.Minute

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	cmd, ok := command(args)
	if !ok {
		fmt.Fprintln(stderr, "keyturn-guard: this account runs only commands sent by the keyturn gate")
		return guard.ExitUsage
	}
	if cmd == guard.ProbeCommand {
		fmt.Fprintln(stdout, guard.ProbeAnswer)
		return 0
	}
	if cmd != guard.Command {
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
	// The policy is parsed while the guard waits for its grant and the
	// traced child starts; the child runs nothing of the line before the
	// parse succeeded (Release).
	type parsed struct {
		pol *policy.Policy
		err error
	}
	polc := make(chan parsed, 1)
	go func() {
		pol, err := cfg.parsePolicy()
		polc <- parsed{pol, err}
	}()
	// The first ed25519 verification in a process computes the library's
	// tables (half a millisecond); have it done while the grant travels.
	// The signature is all zeros and its result is thrown away: only the
	// real grant's verification decides anything.
	go cfg.key.Verify(nil, &ssh.Signature{Format: cfg.key.Type(), Blob: make([]byte, ed25519.SignatureSize)})
	// The traced child (the guard re-executed, a second Go runtime to
	// start) is started now, so that its start overlaps the handshake too;
	// it runs nothing before it is given the line and released. On a
	// terminal it would take the foreground from the guard, which still
	// reads the grant there: it is started after the handshake.
	env := cleanEnv(os.Environ())
	var child *trace.Child
	if !term.IsTerminal(int(stdin.Fd())) {
		if child, err = trace.Start(env); err != nil {
			fmt.Fprintf(stderr, "keyturn-guard: %v\n", err)
			return guard.ExitInternal
		}
	}
	g, status := handshake(cfg, stdin, stdout, stderr)
	if g == nil {
		child.Abort()
		return status
	}
	if child == nil {
		if child, err = trace.Start(env); err != nil {
			fmt.Fprintf(stderr, "keyturn-guard: %v (the line was stopped)\n", err)
			return guard.ExitInternal
		}
	}
	dec := &guard.Decider{Target: cfg.target, Granted: g.Actions}
	res, err := child.Run(trace.Config{
		Argv:    []string{cfg.shell, "--norc", "--noprofile", "-c", g.Line},
		Decider: dec,
		Release: func() error {
			p := <-polc
			if p.err != nil {
				return fmt.Errorf("config: %w", p.err)
			}
			dec.Policy = p.pol
			return nil
		},
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

// handshake writes a fresh challenge, reads the gate's grant line from
// stdin and verifies it: the grant must answer this challenge, so it was
// made for this run and no other. On a terminal (ssh -t) the line is read
// with echo and line editing off, so the token is neither shown nor
// limited to a terminal line.
func handshake(cfg *config, stdin *os.File, stdout, stderr io.Writer) (*grant.Grant, int) {
	challenge, err := grant.NewChallenge()
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: %v\n", err)
		return nil, guard.ExitInternal
	}
	restore := func() {}
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		old, err := term.MakeRaw(fd)
		if err != nil {
			fmt.Fprintf(stderr, "keyturn-guard: terminal: %v\n", err)
			return nil, guard.ExitInternal
		}
		restore = func() { term.Restore(fd, old) }
		defer restore()
	}
	if _, err := io.WriteString(stdout, grant.ChallengeLine(challenge)); err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: write challenge: %v\n", err)
		return nil, guard.ExitGrant
	}
	timer := time.AfterFunc(grantWait, func() {
		restore()
		fmt.Fprintf(stderr, "keyturn-guard: refused: no grant within %v\n", grantWait)
		os.Exit(guard.ExitGrant)
	})
	tok, err := grant.ReadLine(stdin)
	timer.Stop()
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: refused: %v\n", err)
		return nil, guard.ExitGrant
	}
	g, err := grant.Verify(tok, cfg.key, cfg.target, cfg.digest, challenge, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "keyturn-guard: refused: %v\n", err)
		return nil, guard.ExitGrant
	}
	return g, 0
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
