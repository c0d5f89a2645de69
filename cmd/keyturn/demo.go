package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pquerna/otp/totp"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/demotarget"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/server"
)

// demoUsers are the people of the demo: alice runs commands, bob and carol
// approve them.
var demoUsers = []struct {
	name  string
	roles []config.Role
}{
	{"alice", []config.Role{config.RoleAdmin}},
	{"bob", []config.Role{config.RoleAdmin, config.RoleApprover}},
	{"carol", []config.Role{config.RoleApprover}},
}

func demoMain(args []string, stdout, stderr io.Writer) int {
	fs := stderrFlagSet("keyturn demo", "Usage: keyturn demo [--dir DIR] [--listen ADDR] [--policies FILE]\n"+
		"       keyturn demo totp [--dir DIR] NAME\n\n"+
		"Runs a gate on loopback with a demo target in the same process and demo\n"+
		"users alice (admin), bob (admin, approver) and carol (approver), and prints\n"+
		"ssh lines to try. Ctrl-C stops it.\n\n", stderr)
	dir := fs.String("dir", "keyturn-demo", "`folder` for the demo's keys, config and data")
	listen := fs.String("listen", config.DefaultListen, "`address` the demo gate listens on")
	policies := fs.String("policies", "", "the policy `file` the demo gate enforces (default: the shipped policy, written to DIR/policies.yaml)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if len(args) > 0 && args[0] == "totp" {
		return demoTOTP(args[1:], stdout, stderr)
	}
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	log, err := newLogger(stderr, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn demo: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runDemo(ctx, *dir, *listen, *policies, stdout, log); err != nil {
		fmt.Fprintf(stderr, "keyturn demo: %v\n", err)
		return 1
	}
	return 0
}

func runDemo(ctx context.Context, dir, listen, policies string, stdout io.Writer, log *slog.Logger) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if policies == "" {
		// The shipped policy, written once: an edit made to it in the
		// demo folder is the demo's policy from then on.
		policies = filepath.Join(dir, "policies.yaml")
		if _, err := os.Stat(policies); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(policies, shippedPolicy, 0o600); err != nil {
				return err
			}
		}
	}
	if policies, err = filepath.Abs(policies); err != nil {
		return err
	}
	if _, err := os.Stat(policies); err != nil {
		return fmt.Errorf("policy file: %w", err)
	}

	// The demo target: in this process, trusting only the gate's client key.
	clientKey, err := bastion.LoadOrCreateKey(filepath.Join(dir, "data", bastion.ClientKeyFile))
	if err != nil {
		return err
	}
	targetHostKey, err := bastion.LoadOrCreateKey(filepath.Join(dir, "demo-target_host_ed25519"))
	if err != nil {
		return err
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo target: %w", err)
	}
	target := demotarget.New(targetHostKey, clientKey.PublicKey(), log.With("component", "demo-target"))
	go target.Serve(tl)
	defer target.Close()

	me, err := user.Current()
	if err != nil {
		return err
	}
	cfg, err := writeDemoConfig(dir, listen, policies, tl.Addr().String(), me.Username, targetHostKey.PublicKey())
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another gate running? try --listen 127.0.0.1:2223)", cfg.Listen, err)
	}
	srv, err := server.Open(ctx, cfg, server.Options{Logger: log, Console: console})
	if err != nil {
		l.Close()
		return err
	}
	if err := writeDemoSSHConfig(dir, l.Addr().String(), cfg); err != nil {
		l.Close()
		srv.Close()
		return err
	}
	if err := enableDemoMPA(ctx, srv.MPA, dir); err != nil {
		l.Close()
		srv.Close()
		return fmt.Errorf("set up demo approvers: %w", err)
	}
	if err := srv.LogStart(ctx, versionString()); err != nil {
		l.Close()
		srv.Close()
		return err
	}
	printDemoLines(stdout, dir)
	return srv.Run(ctx, l)
}

// writeDemoConfig writes the demo's keyturn.yaml, so that the demo runs
// from a real config file an operator can read and copy.
func writeDemoConfig(dir, listen, policies, targetAddr, login string, targetHostKey gossh.PublicKey) (*config.Config, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by 'keyturn demo'; rewritten at every start.\nlisten: %s\ndata_dir: ./data\npolicies: %s\nusers:\n", listen, policies)
	for _, u := range demoUsers {
		pub, err := demoUserKey(filepath.Join(dir, "keys", u.name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  - name: %s\n    roles: [%s]\n    keys: [%q]\n    targets: [\"demo\"]\n", u.name, config.JoinRoles(u.roles, ", "), pub)
	}
	fmt.Fprintf(&b, "targets:\n  - name: demo\n    address: %s\n    user: %s\n    host_keys: [%q]\n",
		targetAddr, login, bastion.AuthorizedKey(targetHostKey, ""))
	path := filepath.Join(dir, "keyturn.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return config.Load(path)
}

// demoUserKey returns the authorized_keys line of the demo user's key at
// path, creating the key on the first run, and leaves path.pub beside it
// for the user's ssh.
func demoUserKey(path string) (string, error) {
	key, err := bastion.LoadOrCreateKey(path)
	if err != nil {
		return "", err
	}
	line := bastion.AuthorizedKey(key.PublicKey(), filepath.Base(path)+"@keyturn-demo")
	return line, os.WriteFile(path+".pub", []byte(line+"\n"), 0o644)
}

func writeDemoSSHConfig(dir, addr string, cfg *config.Config) error {
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(cfg.DataDir, bastion.HostKeyFile))
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	known := fmt.Sprintf("[%s]:%s %s\n", host, port, bastion.AuthorizedKey(hostKey.PublicKey(), ""))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known), 0o644); err != nil {
		return err
	}
	sshConfig := fmt.Sprintf("# Written by 'keyturn demo'.\nHost gate\n  HostName %s\n  Port %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n",
		host, port, filepath.Join(dir, "known_hosts"))
	return os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(sshConfig), 0o644)
}

func printDemoLines(w io.Writer, dir string) {
	rel := dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	ssh := func(user string) string {
		return fmt.Sprintf("ssh -F %s/ssh_config -i %s/keys/%s", rel, rel, user)
	}
	totpCmd := selfCommand() + " demo totp"
	if rel != "keyturn-demo" {
		totpCmd += " --dir " + rel
	}
	fmt.Fprintf(w, `
keyturn demo is running. In another terminal, try:

  # alice runs a harmless command on the demo target through the gate
  %[1]s alice+demo@gate 'uptime; id -un'

  # a privileged command is held for two approvals; alice's ssh waits
  %[1]s alice+demo@gate 'kill -0 $$ && echo "signal sent"'

  # in a third terminal, bob and carol approve it (the request id is in
  # alice's terminal); each code works once, and changes every 30 s
  %[3]s bob@gate mpa requests list
  %[3]s bob@gate mpa requests approve REQ-ID --totp-code $(%[5]s bob)
  %[4]s carol@gate mpa requests approve REQ-ID --totp-code $(%[5]s carol)

  # or review and approve in the approvers' console
  %[3]s -t bob@gate

  # the gate's own commands
  %[1]s alice@gate whoami
  %[1]s alice@gate mpa requests list

The demo approvers' TOTP secrets (base32) are in %[2]s/totp/bob and
%[2]s/totp/carol: '%[5]s NAME' prints the current code, or load a
secret into an authenticator app, or: oathtool --totp -b $(cat %[2]s/totp/bob)
Keys, config, policy and data are in %[2]s/. Ctrl-C stops the demo.
`, ssh("alice"), rel, ssh("bob"), ssh("carol"), totpCmd)
}

// selfCommand is how to run this keyturn again from the printed lines:
// "keyturn" when that is this binary on the PATH, the binary's path
// otherwise, or "go run" when it was built by go run into a folder that
// is gone once it stops.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "keyturn"
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if _, err := os.Stat(filepath.Join("cmd", "keyturn", "main.go")); err == nil {
			return "go run ./cmd/keyturn"
		}
		return "go run github.com/keyturn/keyturn/cmd/keyturn@latest"
	}
	if p, err := exec.LookPath("keyturn"); err == nil {
		if a, err := filepath.EvalSymlinks(p); err == nil {
			if b, err := filepath.EvalSymlinks(exe); err == nil && a == b {
				return "keyturn"
			}
		}
	}
	return exe
}

// demoApprovers are registered with TOTP secrets kept in the demo folder,
// so 'keyturn demo totp NAME' can stand in for their authenticator apps.
var demoApprovers = []string{"bob", "carol"}

// enableDemoMPA registers the demo approvers (on the first run) and turns
// multi-party approval on, as an operator would with two approvers' phones.
func enableDemoMPA(ctx context.Context, svc *mpa.Service, dir string) error {
	for _, name := range demoApprovers {
		if a, err := svc.Approver(ctx, name); err == nil && a.Status == mpa.Registered {
			continue
		}
		reg, err := svc.InitiateRegistration(ctx, name, false)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "totp"), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "totp", name), []byte(reg.Secret+"\n"), 0o600); err != nil {
			return err
		}
		// The code of the previous 30 s step (within the allowed skew),
		// so the approver's first approval can use the current one.
		code, err := totp.GenerateCode(reg.Secret, time.Now().Add(-30*time.Second))
		if err != nil {
			return err
		}
		if _, _, err := svc.CompleteRegistration(ctx, name, code); err != nil {
			return err
		}
	}
	settings, err := svc.Settings(ctx)
	if err != nil || settings.Enabled {
		return err
	}
	_, err = svc.SetEnabled(ctx, "keyturn-demo", true)
	return err
}

// demoTOTP prints a demo approver's current code.
func demoTOTP(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyturn demo totp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "keyturn-demo", "the demo's `folder`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: keyturn demo totp [--dir DIR] NAME\n\nPrints the current TOTP code of demo approver NAME (bob or carol).\n")
	}
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	secret, err := os.ReadFile(filepath.Join(*dir, "totp", fs.Arg(0)))
	if err != nil {
		fmt.Fprintf(stderr, "keyturn demo totp: %v (is %s a demo approver, and has the demo run?)\n", err, fs.Arg(0))
		return 1
	}
	code, err := totp.GenerateCode(strings.TrimSpace(string(secret)), time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "keyturn demo totp: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, code)
	return 0
}
