package shellfast

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"
	"github.com/keyturn/keyturn/bastion/sshtest"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/bastion/targets"
	"github.com/keyturn/keyturn/cmd/internal/localsshd"
	"github.com/keyturn/keyturn/cmd/internal/testaccount"
)

// These tests run the gate against a real OpenSSH sshd on loopback that
// logs in as the test's own user, whose login shell is bash here; HOME is
// set by sshd (SetEnv) to a directory of the test, so that the login's rc
// files are the test's. Debian's bash reads ~/.bashrc for a command run
// by sshd (SSH_SOURCE_BASHRC).

type sshdGate struct {
	addr    string
	hostKey gossh.PublicKey
	alice   gossh.Signer
	pool    *targets.Pool
	logs    *mpatest.Buffer // the gate's log lines
}

// run runs line through the gate as alice on target t1, on a new client
// connection.
func (g *sshdGate) run(t testing.TB, line string) (string, string, int) {
	t.Helper()
	c := g.dial(t)
	defer c.Close()
	return runOn(t, c, line)
}

// dial logs in to the gate as alice for target t1.
func (g *sshdGate) dial(t testing.TB) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{
		User: "alice+t1", Auth: []gossh.AuthMethod{gossh.PublicKeys(g.alice)}, HostKeyCallback: gossh.FixedHostKey(g.hostKey),
	})
	if err != nil {
		t.Fatalf("dial the gate: %v", err)
	}
	return c
}

// runOn runs line in a new session on c: its stdout, stderr and exit
// status.
func runOn(t testing.TB, c *gossh.Client, line string) (string, string, int) {
	t.Helper()
	return sshtest.RunOn(t, c, line, false)
}

// waitProbe waits (bounded) for the shell probe of t1's connection.
func (g *sshdGate) waitProbe(t testing.TB) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain, err := g.pool.WaitShellProbe(ctx, "t1")
	if err != nil {
		t.Fatalf("%v\ngate log:\n%s", err, g.logs)
	}
	return plain
}

// startSSHDGate starts an sshd whose logins (the test's own user) get
// HOME=home (rc, if not empty, is written to home/.bashrc) and extra
// sshd_config lines, and a gate in front of it whose target t1 has
// targetExtra config lines.
func startSSHDGate(t testing.TB, rc, extra, targetExtra string) *sshdGate {
	t.Helper()
	return startSSHDGateAs(t, nil, rc, extra, targetExtra)
}

// sshdTarget is a running sshd the gate logs in to as login with
// gateClient.
type sshdTarget struct {
	addr, hostKey, login string
	gateClient           gossh.Signer
}

// startSSHDGateAs is startSSHDGate logging in to acct (nil: the test's
// own user, with HOME set by sshd): the gate's key goes to the account's
// ~/.ssh/authorized_keys and sshd reads it with StrictModes, as a real
// server does.
func startSSHDGateAs(t testing.TB, acct *testaccount.Account, rc, extra, targetExtra string) *sshdGate {
	t.Helper()
	return startTarget(t, acct, rc, extra).gate(t, targetExtra)
}

// startTarget starts the sshd of startSSHDGateAs.
func startTarget(t testing.TB, acct *testaccount.Account, rc, extra string) *sshdTarget {
	t.Helper()
	if _, err := localsshd.Path(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	sshtest.Tool(t, "bash")
	sshtest.Tool(t, "dash")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	loginName := me.Username
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	gateClient := sshtest.Signer(t)
	gateKey := bastion.AuthorizedKey(gateClient.PublicKey(), "")
	opts := localsshd.Options{Dir: filepath.Join(dir, "sshd"), AuthorizedKeys: gateKey, LogLevel: "ERROR", Extra: extra}
	if acct == nil {
		opts.Extra = "SetEnv HOME=" + home + "\n" + extra
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
	} else {
		loginName, home, opts.UserKeys = acct.Name, acct.Home, true
		keys := filepath.Join(home, ".ssh", "authorized_keys")
		if err := os.WriteFile(keys, []byte(gateKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(keys, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}
	if rc != "" {
		if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := localsshd.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &sshdTarget{addr: srv.Addr, hostKey: srv.HostKey, login: loginName, gateClient: gateClient}
}

// dialDirect logs in to tg's sshd as the gate does, straight, without a
// gate in between (the benchmarks' baseline).
func (tg *sshdTarget) dialDirect(t testing.TB) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", tg.addr, &gossh.ClientConfig{
		User: tg.login, Auth: []gossh.AuthMethod{gossh.PublicKeys(tg.gateClient)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		t.Fatalf("dial the target's sshd: %v", err)
	}
	return c
}

// gate starts a gate in front of tg whose target t1 has targetExtra config
// lines.
func (tg *sshdTarget) gate(t testing.TB, targetExtra string) *sshdGate {
	t.Helper()
	dir := t.TempDir()
	alice := sshtest.Signer(t)
	cfgText := "users:\n  - name: alice\n    roles: [admin]\n    keys: [\"" + bastion.AuthorizedKey(alice.PublicKey(), "") + "\"]\n    targets: [\"*\"]\n" +
		"targets:\n  - name: t1\n    address: " + tg.addr + "\n    user: " + tg.login + "\n    host_keys: [\"" + tg.hostKey + "\"]\n" + targetExtra
	cfg, err := config.Parse(filepath.Join(dir, "keyturn.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	logs := &mpatest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool, err := targets.NewPool(tg.gateClient, cfg.Targets, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	polPath := filepath.Join(dir, "policies.yaml")
	if err := os.WriteFile(polPath, []byte("version: 1\nactions:\n  - name: kill_process\n    service: process\n    match: [{command: kill}]\nterminal_allow:\n  - command: [echo, type, bash]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := bastion.LoadPolicy(polPath, log)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := sshtest.Signer(t)
	g, err := bastion.New(bastion.Options{Config: cfg, HostKey: hostKey, Targets: pool, Policy: pol, MPA: bastion.NewService(cfg, st, log), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &sshdGate{addr: sshtest.Serve(t, g), hostKey: hostKey.PublicKey(), alice: alice, pool: pool, logs: logs}
}

// wrapped runs `echo "$0"` through the gate and reports whether the line
// ran in the wrapper's bash: its $0 is the path the wrapper execs
// (/bin/bash), where sshd starts the login shell as plain "bash".
func (g *sshdGate) wrapped(t testing.TB) bool {
	t.Helper()
	out, errOut, status := g.run(t, `echo "$0"`)
	if status != 0 {
		t.Fatalf("echo $0: status %d, stderr %q", status, errOut)
	}
	switch out = strings.TrimSpace(out); out {
	case "/bin/bash":
		return true
	case "bash":
		return false
	}
	t.Fatalf("echo $0 printed %q; want /bin/bash or bash", out)
	return false
}

// dashAttack is issue 18's line: dash reads a second command in it that
// bash (and the policy) do not.
const dashAttack = "echo $'\\'\necho INJECTED\n\\''"

// A plain bash login: the first session goes wrapped (the probe runs
// once a session on the connection has ended), every session after the
// probe's yes goes to the login bash as it is: no second bash.
func TestShellFastPathPlainBash(t *testing.T) {
	g := startSSHDGate(t, "", "", "")
	if !g.wrapped(t) {
		t.Fatal("first session not wrapped: the probe had not answered")
	}
	if !g.waitProbe(t) {
		t.Fatalf("probe said no for a plain bash login\ngate log:\n%s", g.logs)
	}
	for range 3 {
		if g.wrapped(t) {
			t.Fatalf("after the probe's yes, a line still went wrapped\ngate log:\n%s", g.logs)
		}
	}
	// A session with a terminal stays wrapped: the probe ran without one.
	c := g.dial(t)
	defer c.Close()
	if out, errOut, st := sshtest.RunOn(t, c, `echo "$0"`, true); strings.TrimSpace(out) != "/bin/bash" {
		t.Logf("stderr %q status %d", errOut, st)
		t.Errorf("a session with a terminal printed $0 %q; want /bin/bash (wrapped)", out)
	}
	// The line still runs as bash (the policy) reads it.
	out, _, _ := g.run(t, dashAttack)
	if strings.Contains(out, "INJECTED\n") && !strings.Contains(out, "echo INJECTED") {
		t.Errorf("attack line ran a second command: %q", out)
	}
	want, err := exec.Command("bash", "--norc", "--noprofile", "-c", dashAttack).Output()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("attack line printed %q; bash prints %q", out, want)
	}
}

// An rc file that defines things only on a terminal: the probe (no
// terminal) says yes, sessions without one go unwrapped, and one with a
// terminal is wrapped, so the rc file's function does not reach its line.
func TestShellFastPathTerminalRC(t *testing.T) {
	g := startSSHDGate(t, "if [ -t 0 ]; then greet() { echo from-rc; }; fi\n", "", "")
	g.wrapped(t)
	if !g.waitProbe(t) {
		t.Fatalf("probe said no\n%s", g.logs)
	}
	c := g.dial(t)
	defer c.Close()
	if out, _, _ := sshtest.RunOn(t, c, "type -t greet || echo none", true); strings.TrimSpace(out) != "none" {
		t.Errorf("on a terminal, the rc file's function reached the line: %q", out)
	}
	// The rc file does define it for a bash login on a terminal (else
	// the check above shows nothing).
	if out, _, _ := sshtest.RunOn(t, c, `bash -c "type -t greet"`, true); !strings.Contains(out, "function") {
		t.Errorf("rc file not read on a terminal: %q", out)
	}
}

// shell_wrapper: always keeps the wrapper: no probe runs.
func TestShellFastPathAlways(t *testing.T) {
	g := startSSHDGate(t, "", "", "    shell_wrapper: always\n")
	for range 4 {
		if !g.wrapped(t) {
			t.Fatal("a line went unwrapped on a shell_wrapper: always target")
		}
	}
	// Close waits for any probe still running (there must be none).
	g.pool.Close()
	if strings.Contains(g.logs.String(), "login shell is") {
		t.Errorf("a shell probe ran on a shell_wrapper: always target:\n%s", g.logs)
	}
}

// rc files that leave something behind keep the wrapper: what they
// define does not reach the line, as before.
func TestShellFastPathRCFiles(t *testing.T) {
	for _, c := range []struct {
		name, rc, line, want string
	}{
		{"function", "greet() { echo from-rc; }\n", "type -t greet || echo none", "none"},
		{"option", "shopt -s extglob\n", "shopt -q extglob && echo on || echo off", "off"},
		{"alias", "shopt -s expand_aliases\nalias hi='echo from-alias'\n", "type -t hi || echo none", "none"},
		{"variable", "IFS=x\n", "printf '[%s]' \"$IFS\"", "[ \t\n]"},
		// Exported, so in the probe's fresh bash too, but readonly
		// only in the login: without the wrapper the line's own
		// assignment (which the policy reads) fails.
		{"exported readonly", "declare -rx X=stop\n", `X=start; echo "$X"`, "start"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startSSHDGate(t, c.rc, "", "")
			g.wrapped(t)
			if g.waitProbe(t) {
				t.Fatalf("probe said plain bash for rc %q", c.rc)
			}
			if !g.wrapped(t) {
				t.Error("a line went unwrapped")
			}
			out, errOut, _ := g.run(t, c.line)
			if strings.TrimSpace(out) != c.want {
				t.Errorf("%q printed %q (stderr %q); want %q", c.line, out, errOut, c.want)
			}
			if !strings.Contains(g.logs.String(), "login shell is not a plain bash") {
				t.Errorf("no probe answer in the log:\n%s", g.logs)
			}
		})
	}
}

// A login shell that is not bash: sshd's ForceCommand hands every command
// to dash, so dash reads the lines as a dash login shell would. The probe
// says no, and issue 18's attack line stays harmless.
func TestShellFastPathDashLogin(t *testing.T) {
	dir := t.TempDir()
	login := filepath.Join(dir, "login-dash")
	if err := os.WriteFile(login, []byte("#!/bin/sh\nexec /bin/dash -c \"$SSH_ORIGINAL_COMMAND\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	g := startSSHDGate(t, "", "ForceCommand "+login+"\n", "")
	g.run(t, "true")
	if g.waitProbe(t) {
		t.Fatal("probe said plain bash under dash")
	}
	out, _, _ := g.run(t, dashAttack)
	want, err := exec.Command("bash", "--norc", "--noprofile", "-c", dashAttack).Output()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("attack line under a dash login printed %q; bash prints %q", out, want)
	}
	// Without the wrapper dash would have run the second echo: the
	// comparison above is one the fast path taken wrongly would fail.
	direct, _ := exec.Command("dash", "-c", dashAttack).Output()
	if string(direct) == string(want) {
		t.Fatalf("dash and bash agree on the attack line; the test shows nothing")
	}
}

// An attack on the probe itself: a process of the account on the target
// waits for the probe of a
// dash login, reads its nonce from the process's environment, and writes
// a perfect plain-bash report (a clean bash's own answer to the same
// probe) into the probe's stdout through /proc. The login shell then
// exits as dash does (97), and only an exit status of 0 counts: the
// forged report is refused.
func TestShellFastPathForgedReport(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd/1"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no /proc: the attack needs it: %v", err)
		}
		t.Skip("no /proc: the attack needs it")
	}
	dir := t.TempDir()
	login := filepath.Join(dir, "login-dash")
	// The probe's login waits a little, so the forger finds it.
	script := "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in *keyturn-shell-probe-*) sleep 1;; esac\nexec /bin/dash -c \"$SSH_ORIGINAL_COMMAND\"\n"
	if err := os.WriteFile(login, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	forger := filepath.Join(dir, "forger")
	done := filepath.Join(dir, "forged")
	forge := `#!/bin/bash
# Wait (bounded) for a process whose SSH_ORIGINAL_COMMAND is the probe.
for i in $(seq 1 3000); do
	for e in /proc/[0-9]*/environ; do
		probe=
		while IFS= read -r -d '' kv; do
			case $kv in SSH_ORIGINAL_COMMAND=*keyturn-shell-probe-*) probe=${kv#SSH_ORIGINAL_COMMAND=} ;; esac
		done < "$e" 2>/dev/null
		[ -n "$probe" ] || continue
		# A clean bash's own report to this very probe.
		report=$(env -i PATH=/usr/bin:/bin HOME=/nonexistent bash -c "$probe"; echo .)
		printf '%s' "${report%.}" > "${e%/environ}/fd/1" && : > ` + done + `
		exit 0
	done
	sleep 0.01
done
`
	if err := os.WriteFile(forger, []byte(forge), 0o755); err != nil {
		t.Fatal(err)
	}
	g := startSSHDGate(t, "", "ForceCommand "+login+"\n", "")
	// The forger is a process of the account on the target (the test's
	// own user is the target account here). Through the gate a line that
	// starts an arbitrary program is held as unresolved, so it stands
	// for one started some other way (an approved command, cron, a
	// direct login): it runs before the probe does.
	fp := exec.Command(forger)
	if err := fp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Process.Kill(); fp.Wait() })
	// A session's end starts the probe.
	if _, errOut, status := g.run(t, "true"); status != 0 {
		t.Fatalf("true: status %d: %s", status, errOut)
	}
	if g.waitProbe(t) {
		t.Fatalf("forged report taken for a plain bash login\ngate log:\n%s", g.logs)
	}
	if _, err := os.Stat(done); err != nil {
		t.Fatalf("the forger did not write its report (%v): the test shows nothing\ngate log:\n%s", err, g.logs)
	}
	if !strings.Contains(g.logs.String(), "well-formed report but the shell exited") {
		t.Errorf("the forged report was not refused for the exit status:\n%s", g.logs)
	}
	if !g.wrapped(t) {
		t.Error("a line went unwrapped")
	}
}

// Real accounts with each installed login shell (useradd, removed at the
// end): only bash's login goes unwrapped; under every other shell the
// probe says no and the line still runs as bash reads it. It needs root
// (testaccount.NeedRoot: under CI=true a missing root fails the test,
// unless KEYTURN_ROOT_TESTS=sudo says .ci/run runs it again as root, as
// it does cmd/keyturn's TestE2EGuardLogin); under CI every shell of the
// list must be installed.
func TestShellFastPathLoginShells(t *testing.T) {
	testaccount.NeedRoot(t)
	for _, tool := range []string{"useradd", "userdel", "bash", "dash"} {
		sshtest.Tool(t, tool)
	}
	want, err := exec.Command("bash", "--norc", "--noprofile", "-c", dashAttack).Output()
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, name := range []string{"bash", "dash", "zsh", "ksh", "mksh", "fish", "tcsh"} {
		shell, ok := sshtest.LookTool(t, name)
		if !ok {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			acct := testaccount.New(t, testaccount.Dir(t, "keyturn-shellfast-"), "ktsf", shell)
			g := startSSHDGateAs(t, acct, "", "", "")
			if !g.wrapped(t) {
				t.Fatal("first session not wrapped")
			}
			plain := g.waitProbe(t)
			if plain != (name == "bash") {
				t.Fatalf("login shell %s: probe said plain bash = %v\ngate log:\n%s", shell, plain, g.logs)
			}
			if g.wrapped(t) != (name != "bash") {
				t.Errorf("login shell %s: wrapped = %v", shell, !plain)
			}
			if out, _, _ := g.run(t, dashAttack); out != string(want) {
				t.Errorf("login shell %s: attack line printed %q; bash prints %q", shell, out, want)
			}
		})
	}
	if ran < 2 {
		t.Fatal("no login shell but bash to try")
	}
}
