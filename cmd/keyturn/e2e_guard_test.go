//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/grant"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/cmd/internal/localsshd"
	"github.com/keyturn/keyturn/cmd/internal/testaccount"
)

// TestE2EGuard drives the gate to a real sshd whose gate account runs
// keyturn-guard, for a test that cannot create accounts: sshd's
// ForceCommand starts the guard, as the test's own user, with the client's
// command in SSH_ORIGINAL_COMMAND. The account's own shell starts it (and
// may read rc files first, which a login shell of keyturn-guard would
// not); TestE2EGuardLogin runs the same script with a real account.
func TestE2EGuard(t *testing.T) {
	requireTools(t, append([]string{"ssh", "sshd", "ssh-keygen", "oathtool"}, guardAttackTools...)...)
	runGuardScripts(t, nil)
}

// guardAttackTools are the programs the script's attack lines and benign
// lines run on the target (.ci/run installs them).
var guardAttackTools = []string{"bash", "python3", "perl", "git", "capsh", "prlimit", "setarch", "setsid",
	"sed", "xargs", "env", "kill", "timeout", "sha256sum"}

// TestE2EGuardLogin runs the guard scripts against a real account whose
// login shell is the built keyturn-guard: a throwaway user (created with
// useradd, removed at the end) whose ~/.ssh/authorized_keys holds the
// gate's target key, with sshd's StrictModes on. The lines run as that
// user, so P, the process lines try to kill, is that user's too. It needs
// root; under CI=true a missing tool or root fails the test, unless
// KEYTURN_ROOT_TESTS=sudo says the caller runs it again as root (.ci/run
// does, when it is not root itself).
func TestE2EGuardLogin(t *testing.T) {
	requireTools(t, append([]string{"ssh", "sshd", "ssh-keygen", "oathtool", "useradd", "userdel"}, guardAttackTools...)...)
	testaccount.NeedRoot(t)
	// Everything the account must reach (its home, the guard, the
	// script's bin/) lives under a directory others may traverse.
	base := testaccount.Dir(t, "keyturn-guard-login-")
	// The login shell is where guardinstall puts the guard; the account
	// exists before the script runs, and the shell file soon after.
	shell := filepath.Join(base, "guard", "keyturn-guard")
	acct := testaccount.New(t, base, "ktg", shell)
	login := &guardLogin{user: acct.Name, home: acct.Home, shell: shell, base: base, uid: acct.UID, gid: acct.GID}
	runGuardScripts(t, login)
}

// guardLogin is the real account TestE2EGuardLogin made; nil means the
// ForceCommand stand-in.
type guardLogin struct {
	user, home, shell, base string
	uid, gid                int
}

func runGuardScripts(t *testing.T, login *guardLogin) {
	p := scriptParams(t, "testdata/e2e-guard")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		if login == nil {
			env.Setenv("GUARD_USER", env.Getenv("USER"))
			env.Setenv("GUARD_HOME", filepath.Join(env.WorkDir, "guardhome"))
			return os.MkdirAll(filepath.Join(env.WorkDir, "guardhome"), 0o700)
		}
		env.Setenv("GUARD_USER", login.user)
		env.Setenv("GUARD_HOME", login.home)
		// The account runs $WORK/bin/runit: let it through the work
		// directory (the test's own, under login.base).
		return os.Chmod(env.WorkDir, 0o755)
	}
	if login != nil {
		p.WorkdirRoot = filepath.Join(login.base, "work")
		if err := os.Mkdir(p.WorkdirRoot, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.Condition = func(cond string) (bool, error) {
		if cond == "login" {
			return login != nil, nil
		}
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	p.Cmds["guardinstall"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdGuardInstall(ts, neg, args, login) }
	p.Cmds["guardsshd"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdGuardSSHD(ts, neg, args, login) }
	p.Cmds["guardauthorize"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdGuardAuthorize(ts, neg, args, login) }
	p.Cmds["guardstage"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdGuardStage(ts, neg, args, login) }
	p.Cmds["guardkill9"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdGuardKill9(ts, neg, args, login) }
	p.Cmds["guardgrant"] = cmdGuardGrant
	p.Cmds["heldattack"] = cmdHeldAttack
	p.Cmds["guardline"] = cmdGuardLine
	p.Cmds["guardstream"] = cmdGuardStream
	p.Cmds["victim"] = func(ts *testscript.TestScript, neg bool, args []string) { cmdVictim(ts, neg, args, login) }
	testscript.Run(t, p)
}

// cmdGuardInstall builds keyturn-guard into DIR with the files it reads
// beside it, as 'keyturn guard install' lays them out: the gate's host key
// from DATADIR, POLICY, and TARGET's name. With a real account, DIR is the
// account's login shell's directory (DIR is ignored).
//
//	guardinstall DIR DATADIR POLICY TARGET
func cmdGuardInstall(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: guardinstall DIR DATADIR POLICY TARGET")
	}
	dir := ts.MkAbs(args[0])
	if login != nil {
		dir = filepath.Dir(login.shell)
	}
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Setenv("GUARD_DIR", dir)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "keyturn-guard"), "github.com/keyturn/keyturn/cmd/keyturn-guard")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		ts.Fatalf("build keyturn-guard: %v\n%s", err, out)
	}
	key, err := bastion.LoadOrCreateKey(filepath.Join(ts.MkAbs(args[1]), bastion.HostKeyFile))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "gate.pub"), []byte(bastion.AuthorizedKey(key.PublicKey(), "gate")+"\n"), 0o644))
	pol, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "policies.yaml"), pol, 0o644))
	ts.Check(os.WriteFile(filepath.Join(dir, "target"), []byte(args[3]+"\n"), 0o644))
}

// cmdGuardSSHD starts an sshd whose logins run the guard in DIR: through
// ForceCommand, with HOME set to $GUARD_HOME, or with a real account as
// its login shell, reading the account's own authorized_keys.
//
//	guardsshd NAME DIR
func cmdGuardSSHD(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: guardsshd NAME DIR")
	}
	name := args[0]
	o := localsshd.Options{Dir: ts.MkAbs(filepath.Join("sshd", name))}
	if login == nil {
		o.Extra = fmt.Sprintf("ForceCommand env HOME=%s %s\n", ts.Getenv("GUARD_HOME"), filepath.Join(ts.MkAbs(args[1]), "keyturn-guard"))
	} else {
		o.UserKeys = true
	}
	srv, err := localsshd.Start(context.Background(), o)
	ts.Check(err)
	ts.Defer(srv.Stop)
	ts.Setenv(envName(name, "ADDR"), srv.Addr)
	ts.Setenv(envName(name, "PORT"), srv.Port)
	ts.Setenv(envName(name, "HOSTKEY"), srv.HostKey)
}

// cmdGuardAuthorize installs the last command's stdout (the gate's client
// key) as what sshd NAME accepts for the guard's account.
//
//	guardauthorize NAME
func cmdGuardAuthorize(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: guardauthorize NAME")
	}
	key := ts.ReadFile("stdout")
	if login == nil {
		ts.Check(os.WriteFile(ts.MkAbs(filepath.Join("sshd", args[0], "authorized_keys")), []byte(key), 0o600))
		return
	}
	path := filepath.Join(login.home, ".ssh", "authorized_keys")
	ts.Check(os.WriteFile(path, []byte(key), 0o600))
	ts.Check(os.Chown(path, login.uid, login.gid))
}

// cmdGuardStage writes the account's rc files (~/.bashrc, ~/.profile,
// ~/.bash_profile, owned by the account) so that each touches FILE if it
// ever runs.
//
//	guardstage FILE
func cmdGuardStage(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: guardstage FILE")
	}
	home := ts.Getenv("GUARD_HOME")
	for _, f := range []string{".bashrc", ".profile", ".bash_profile"} {
		path := filepath.Join(home, f)
		ts.Check(os.WriteFile(path, []byte("touch "+args[0]+"\n"), 0o644))
		if login != nil {
			ts.Check(os.Chown(path, login.uid, login.gid))
		}
	}
}

// cmdGuardKill9 waits (up to 30s) for GUARDPID and TREEPID, files a line
// running under the guard wrote its guard's pid and a child's pid to,
// checks that the guard is the one this test installed (its executable is
// $GUARD_DIR/keyturn-guard and it runs as the account), kills it with
// SIGKILL and waits (up to 30s) for the child to be gone.
//
//	guardkill9 GUARDPID TREEPID
func cmdGuardKill9(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: guardkill9 GUARDPID TREEPID")
	}
	readPid := func(path string) int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			data, err := os.ReadFile(path)
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && perr == nil && pid > 0 {
				return pid
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s: no pid after 30s (%v)", path, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	guardPid, treePid := readPid(ts.MkAbs(args[0])), readPid(ts.MkAbs(args[1]))
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", guardPid))
	ts.Check(err)
	if want := filepath.Join(ts.Getenv("GUARD_DIR"), "keyturn-guard"); exe != want {
		ts.Fatalf("pid %d runs %s, not the test's guard %s", guardPid, exe, want)
	}
	if login != nil {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", guardPid))
		ts.Check(err)
		if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t", login.uid)) {
			ts.Fatalf("guard %d does not run as %s:\n%s", guardPid, login.user, status)
		}
	}
	if !pidRunning(treePid) {
		ts.Fatalf("tree process %d is not running before the kill", treePid)
	}
	ts.Check(syscall.Kill(guardPid, syscall.SIGKILL))
	deadline := time.Now().Add(30 * time.Second)
	for pidRunning(treePid) {
		if time.Now().After(deadline) {
			ts.Fatalf("tree process %d outlived its guard by 30s", treePid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pidRunning(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

// cmdGuardGrant logs in to target NAME's guard account directly (the real
// ssh client, with the gate's client key from DATADIR), plays the gate's
// part of the handshake and sends a grant for the line `touch FILE`:
//
//	valid     signed with the gate's key for this challenge
//	forged    signed with another key
//	expired   the gate's key, this challenge, expired two hours ago
//	replayed  the token the last 'valid' sent, again
//
// It fails if the guard's exit status is not 0.
//
//	guardgrant NAME DATADIR MODE FILE
func cmdGuardGrant(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: guardgrant NAME DATADIR MODE FILE")
	}
	name, data, mode, file := args[0], ts.MkAbs(args[1]), args[2], args[3]
	gateKey, err := bastion.LoadOrCreateKey(filepath.Join(data, bastion.HostKeyFile))
	ts.Check(err)
	pol, err := os.ReadFile(filepath.Join(ts.Getenv("GUARD_DIR"), "policies.yaml"))
	ts.Check(err)
	c := exec.Command("ssh", "-i", filepath.Join(data, "client_ed25519"), "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-p", ts.Getenv(envName(name, "PORT")), ts.Getenv("GUARD_USER")+"@127.0.0.1", guard.Command)
	in, err := c.StdinPipe()
	ts.Check(err)
	out, err := c.StdoutPipe()
	ts.Check(err)
	var stderr strings.Builder
	c.Stderr = &stderr
	c.WaitDelay = 10 * time.Second
	ts.Check(c.Start())
	// Bounded: the guard writes its challenge at once, or exits.
	timer := time.AfterFunc(60*time.Second, func() { c.Process.Kill() })
	defer timer.Stop()
	br := bufio.NewReader(out)
	line, _ := br.ReadString('\n')
	challenge, err := grant.ParseChallengeLine(line)
	if err != nil {
		c.Process.Kill()
		c.Wait()
		ts.Fatalf("%v\nstderr: %s", err, stderr.String())
	}
	signer := gateKey
	g, err := grant.New(name, "touch "+file, nil, grant.PolicyDigest(pol), challenge, time.Now(), time.Minute)
	ts.Check(err)
	switch mode {
	case "valid", "replayed":
	case "forged":
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, err = gossh.NewSignerFromKey(priv)
		ts.Check(err)
	case "expired":
		g.IssuedAt, g.Expires = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour+time.Minute).Unix()
	default:
		ts.Fatalf("guardgrant: unknown mode %q", mode)
	}
	tok, err := grant.Sign(g, signer)
	ts.Check(err)
	if mode == "replayed" {
		tok = ts.Getenv("GUARD_LAST_GRANT")
		if tok == "" {
			ts.Fatalf("guardgrant replayed: no earlier valid grant")
		}
	}
	ts.Check(grant.WriteLine(in, tok))
	in.Close()
	rest, _ := io.ReadAll(br)
	err = c.Wait()
	ts.Stdout().Write(rest)
	ts.Stderr().Write([]byte(stderr.String()))
	if mode == "valid" {
		ts.Setenv("GUARD_LAST_GRANT", tok)
	}
	if (err != nil) != neg {
		ts.Fatalf("guardgrant %s: %v\nstderr: %s", mode, err, stderr.String())
	}
}

// cmdVictim starts P, a process outside every guarded tree, in a process
// group of its own (as the real account, if there is one: the account may
// signal it once a grant allows); $VAR is its pid. 'victim alive VAR' and
// '! victim alive VAR' check on it (waiting up to 20s for it to die in the
// second form).
func cmdVictim(ts *testscript.TestScript, neg bool, args []string, login *guardLogin) {
	if len(args) == 2 && args[0] == "alive" {
		pid, err := strconv.Atoi(ts.Getenv(args[1]))
		ts.Check(err)
		deadline := time.Now().Add(20 * time.Second)
		for {
			alive := pidRunning(pid)
			if alive != neg {
				return
			}
			if !neg || time.Now().After(deadline) {
				ts.Fatalf("P %d alive=%v", pid, alive)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: victim VAR | victim alive VAR")
	}
	c := exec.Command("sleep", "1000")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if login != nil {
		c.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(login.uid), Gid: uint32(login.gid)}
	}
	ts.Check(c.Start())
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	ts.Defer(func() { c.Process.Kill(); <-done })
	ts.Setenv(args[0], strconv.Itoa(c.Process.Pid))
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	for i := len(data) - 1; i > 0; i-- {
		if data[i] == ')' {
			return i+2 < len(data) && data[i+2] == 'Z'
		}
	}
	return false
}

// gateSSH is the real ssh client, as alice, through the gate started by
// 'gate start' (its ssh_config), to DEST, with the script's work directory
// as its own; ctx ends it.
func gateSSH(ctx context.Context, ts *testscript.TestScript, dest string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ssh", append([]string{"-F", ts.MkAbs("ssh_config"), "-i", ts.MkAbs("keys/alice"), dest}, args...)...)
	c.Dir = ts.MkAbs(".")
	c.WaitDelay = 10 * time.Second
	return c
}

// runBounded runs c to its end, killing it (and failing the script) after
// limit.
func runBounded(ts *testscript.TestScript, c *exec.Cmd, limit time.Duration) error {
	ts.Check(c.Start())
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		c.Process.Kill()
		<-done
		ts.Fatalf("%s: not done after %v", strings.Join(c.Args, " "), limit)
		return nil
	}
}

// expandBraces expands ${VAR} from the script's environment and leaves
// every other $ alone, so that a line may use the shell's own variables.
func expandBraces(ts *testscript.TestScript, s string) string {
	return braceVar.ReplaceAllStringFunc(s, func(m string) string { return ts.Getenv(m[2 : len(m)-1]) })
}

var braceVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

var requestCreated = regexp.MustCompile(`msg="request created".*request=(req-[0-9a-f]+)`)

// createdRequests is every request the gate's log says it created, in
// order.
func createdRequests(ts *testscript.TestScript) []string {
	data, _ := os.ReadFile(ts.MkAbs("gate.log"))
	var ids []string
	for _, m := range requestCreated.FindAllStringSubmatch(string(data), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// cmdHeldAttack runs attacks/NAME.in (${VAR}s expanded) through the gate
// as alice on web-1, fed on stdin to $WORK/bin/runit, which the policy
// declares inert: the matcher lets it through and only the guard can see
// what the line does. The line must be blocked where it runs and come
// back as a new held request that names kill_process as observed by
// keyturn-guard; the command cancels that request, then checks that ssh
// failed, that its stderr has the guard's report matching
// STDERR-REGEXP, and that P ($P, started by 'victim P') lives. ssh's
// stdout and stderr become the command's.
//
//	heldattack NAME STDERR-REGEXP
func cmdHeldAttack(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: heldattack NAME STDERR-REGEXP")
	}
	name := args[0]
	want, err := regexp.Compile(args[1])
	ts.Check(err)
	line, err := os.ReadFile(ts.MkAbs(filepath.Join("attacks", name+".in")))
	ts.Check(err)
	p, err := strconv.Atoi(ts.Getenv("P"))
	ts.Check(err)
	before := len(createdRequests(ts))

	// Every ssh here is bounded: the attack's own, view and cancel.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := gateSSH(ctx, ts, "alice+web-1@gate", ts.MkAbs("bin/runit"))
	c.Stdin = strings.NewReader(expandBraces(ts, string(line)))
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	ts.Check(c.Start())
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	fail := func(format string, a ...any) {
		c.Process.Kill()
		<-done
		ts.Fatalf("attack %s: %s\nstdout: %s\nstderr: %s", name, fmt.Sprintf(format, a...), stdout.String(), stderr.String())
	}

	// The held request: bounded, and an ssh that ends first is a line
	// that was not held.
	var req string
	deadline := time.After(time.Minute)
	for req == "" {
		if ids := createdRequests(ts); len(ids) > before {
			if len(ids) > before+1 {
				fail("%d requests created, want 1: %v", len(ids)-before, ids[before:])
			}
			req = ids[before]
			break
		}
		select {
		case err := <-done:
			done <- err
			fail("ssh ended (%v) and no request was created", err)
		case <-deadline:
			fail("no request created after 1m")
		case <-time.After(50 * time.Millisecond):
		}
	}
	view := gateSSH(ctx, ts, "alice@gate", "mpa", "requests", "view", req)
	out, err := view.CombinedOutput()
	if err != nil {
		fail("mpa requests view %s: %v\n%s", req, err, out)
	}
	for _, w := range []string{"kill_process", "observed on the target by keyturn-guard"} {
		if !strings.Contains(string(out), w) {
			fail("request %s does not say %q:\n%s", req, w, out)
		}
	}
	if out, err := gateSSH(ctx, ts, "alice@gate", "mpa", "requests", "cancel", req).CombinedOutput(); err != nil {
		fail("mpa requests cancel %s: %v\n%s", req, err, out)
	}
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		fail("ssh still running 1m after %s was cancelled", req)
	}
	ts.Stdout().Write([]byte(stdout.String()))
	ts.Stderr().Write([]byte(stderr.String()))
	if err == nil {
		ts.Fatalf("attack %s: ssh exited 0 after its request was cancelled", name)
	}
	if !strings.Contains(stderr.String(), "keyturn-guard: blocked kill_process: ") || !want.MatchString(stderr.String()) {
		ts.Fatalf("attack %s: stderr does not match %s", name, want)
	}
	if !pidRunning(p) {
		ts.Fatalf("attack %s killed P (%d)", name, p)
	}
}

// cmdGuardLine runs FILE (${VAR}s expanded) through the gate as
// alice on web-1, fed on stdin to $WORK/bin/runit, and waits (up to 2m)
// for it: it must exit 0 without a word from the guard and without a
// request (a line the guard blocked would be held). ssh's stdout and
// stderr become the command's.
//
//	guardline FILE
func cmdGuardLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: guardline FILE")
	}
	name := args[0]
	line, err := os.ReadFile(ts.MkAbs(name))
	ts.Check(err)
	before := len(createdRequests(ts))
	c := gateSSH(context.Background(), ts, "alice+web-1@gate", ts.MkAbs("bin/runit"))
	c.Stdin = strings.NewReader(expandBraces(ts, string(line)))
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	err = runBounded(ts, c, 2*time.Minute)
	ts.Stdout().Write([]byte(stdout.String()))
	ts.Stderr().Write([]byte(stderr.String()))
	if err != nil {
		ts.Fatalf("line %s: %v", name, err)
	}
	if guardSpoke(stderr.String()) {
		ts.Fatalf("line %s: the guard spoke", name)
	}
	if ids := createdRequests(ts); len(ids) != before {
		ts.Fatalf("line %s: requests created: %v", name, ids[before:])
	}
}

// cmdGuardStream writes SIZE bytes from a seeded generator to
// $WORK/stream.bin (readable by the guard's account), has the target send
// it back through the gate (cat, then its own sha256sum on stderr), and
// checks that the client got SIZE bytes whose sha256 is the file's, and
// that the target's sha256sum says the same. Bounded at 5m.
//
//	guardstream SIZE
func cmdGuardStream(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: guardstream SIZE")
	}
	size, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	path := ts.MkAbs("stream.bin")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	ts.Check(err)
	sum := sha256.New()
	var seed [32]byte
	rand.Read(seed[:])
	_, err = io.CopyN(io.MultiWriter(f, sum), mrand.NewChaCha8(seed), size)
	ts.Check(err)
	ts.Check(f.Close())
	ts.Defer(func() { os.Remove(path) })
	want := hex.EncodeToString(sum.Sum(nil))

	c := gateSSH(context.Background(), ts, "alice+web-1@gate", "cat "+path+"; sha256sum "+path+" >&2")
	got := sha256.New()
	var n countWriter
	c.Stdout = io.MultiWriter(got, &n)
	var stderr strings.Builder
	c.Stderr = &stderr
	err = runBounded(ts, c, 5*time.Minute)
	ts.Stderr().Write([]byte(stderr.String()))
	if err != nil {
		ts.Fatalf("stream: %v", err)
	}
	if h := hex.EncodeToString(got.Sum(nil)); int64(n) != size || h != want {
		ts.Fatalf("stream: got %d bytes with sha256 %s, want %d with %s", n, h, size, want)
	}
	if !strings.Contains(stderr.String(), want+"  "+path) {
		ts.Fatalf("stream: the target's sha256sum does not say %s", want)
	}
	if guardSpoke(stderr.String()) {
		ts.Fatalf("stream: the guard spoke")
	}
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

// guardSpoke says whether stderr has a line from keyturn-guard itself (a
// refusal, a block or its report), not merely a path that names it.
func guardSpoke(stderr string) bool {
	return strings.Contains(stderr, "keyturn-guard: ") || strings.Contains(stderr, "keyturn-guard-report:")
}
