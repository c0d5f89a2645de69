package policy

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	kp = "kill_process"
	ds = "delete_snapshot"
	ah = "apply_hardening"
	dh = "disable_hardening"
	un = "unresolved_command"
	is = "interactive_shell"
	wr = "wipe_root"
)

var shipped = sync.OnceValues(func() (*Policy, error) { return Load("../policies.yaml") })

func shippedPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := shipped()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type decideCase struct {
	name    string
	line    string
	pty     bool
	target  string
	want    Verdict
	actions []string
	words   []Word // when set, the words of the first Why entry
}

func allow(name, line string) decideCase { return decideCase{name: name, line: line, want: Allow} }
func hold(name, line string, actions ...string) decideCase {
	return decideCase{name: name, line: line, want: Hold, actions: actions}
}
func deny(name, line string, actions ...string) decideCase {
	return decideCase{name: name, line: line, want: Deny, actions: actions}
}
func (c decideCase) at(words ...Word) decideCase { c.words = words; return c }
func w(text string, off int) Word                { return Word{Text: text, Offset: off, End: off + len(text)} }
func wr2(text string, off, end int) Word         { return Word{Text: text, Offset: off, End: end} }

var decideCases = []decideCase{
	// The tricks from the issue's first paragraph.
	hold("plain kill", "kill 1", kp).at(w("kill", 0)),
	hold("absolute path", "/bin/kill 1", kp).at(w("/bin/kill", 0)),
	hold("usr bin path", "/usr/bin/kill -9 1", kp),
	hold("dot dot path", "/usr/bin/../bin/kill 1", kp),
	hold("double slash path", "//usr//bin//kill 1", kp),
	hold("backslash", `k\ill 1`, kp).at(wr2("kill", 0, 5)),
	hold("empty quotes", `k''ill 1`, kp).at(wr2("kill", 0, 6)),
	hold("empty double quotes", `k""ill 1`, kp),
	hold("quoted name", `"kill" 1`, kp),
	hold("single quoted name", `'kill' 1`, kp),
	hold("split quotes", `'ki'"ll" 1`, kp),
	hold("sudo", "sudo kill 1", kp).at(w("kill", 5)),
	hold("env", "env kill 1", kp).at(w("kill", 4)),
	hold("timeout", "timeout 5 kill 1", kp).at(w("kill", 10)),
	hold("xargs", "echo 1 | xargs kill", kp),
	hold("sh -c", "sh -c 'kill 1'", kp).at(w("kill", 7)),
	hold("find exec plus", "find / -exec kill {} +", kp).at(w("kill", 13)),
	hold("subshell", "(kill 1)", kp).at(w("kill", 1)),
	hold("command substitution", "echo $(kill 1)", kp).at(w("kill", 7)),
	hold("list", "true; kill 1", kp).at(w("kill", 6)),
	hold("function", `f(){ kill "$@"; }; f 1`, kp).at(w("kill", 5)),
	hold("ansi-c hex", `$'\x6b\x69\x6c\x6c' 1`, kp).at(wr2("kill", 0, 19)),
	hold("eval variable", `eval "$X"`, un),
	hold("python inline", `python3 -c 'import os; os.kill(1,9)'`, kp, un),

	// Lists, pipelines and compound commands.
	hold("and list", "true && kill 1", kp),
	hold("or list", "false || kill 1", kp),
	hold("pipeline", "ps aux | grep foo | kill 1", kp),
	hold("background", "kill 1 &", kp),
	hold("negated", "! kill 1", kp),
	hold("group", "{ kill 1; }", kp),
	hold("backquotes", "echo `kill 1`", kp),
	hold("nested substitution", "echo $(echo $(kill 1))", kp),
	hold("process substitution in", "cat <(kill 1)", kp),
	hold("process substitution out", "echo x > >(kill 1)", kp),
	hold("here-doc substitution", "cat <<EOF\n$(kill 1)\nEOF", kp),
	hold("here-string substitution", "cat <<< $(kill 1)", kp),
	// The target is only known at run time: it may be a startup file.
	hold("redirect target substitution", "echo x > $(kill 1)", kp, un),
	hold("if condition", "if kill 1; then echo; fi", kp),
	hold("if body", "if true; then kill 1; fi", kp),
	hold("else body", "if false; then :; else kill 1; fi", kp),
	hold("while loop", "while true; do kill 1; done", kp),
	hold("until loop", "until false; do kill 1; done", kp),
	hold("for loop", "for p in 1 2; do kill $p; done", kp),
	hold("c for loop", "for ((i=0;i<1;i++)); do kill 1; done", kp),
	hold("select", "select x in a; do kill 1; done", kp),
	hold("case", "case x in x) kill 1;; esac", kp),
	hold("coproc", "coproc kill 1", kp),
	hold("coproc named", "coproc K { kill 1; }", kp),
	hold("time keyword", "time kill 1", kp),
	hold("function keyword", "function g { kill 1; }; g", kp),
	hold("arithmetic substitution", "echo $(( $(kill 1) + 1 ))", kp, un),
	hold("arithmetic command", "(( $(kill 1) ))", kp, un),
	hold("array subscript", "a[$(kill 1)]=x", kp),
	hold("array subscript in expansion", "echo ${a[$(kill 1)]}", kp, un),
	hold("assignment value", "x=$(kill 1)", kp),
	hold("declare value", "declare x=$(kill 1)", kp),
	hold("local value", "f(){ local x=$(kill 1); }", kp),
	hold("test clause", "[[ $(kill 1) ]]", kp),
	hold("parameter default", "echo ${x:-$(kill 1)}", kp),
	hold("dollar double quote", `echo "$(kill 1)"`, kp),
	hold("brace expansion name", "{kill,echo} 1", kp),
	hold("brace expansion inside", "k{i,}ll 1", kp),
	hold("brace expansion in path", "/bin/{kill,true} 1", kp),
	hold("line continuation", "ki\\\nll 1", kp),
	hold("newline separated", "echo hi\nkill 1", kp),
	hold("comment then command", "# note\nkill 1", kp),
	hold("literal ansi octal", `$'\153\151\154\154' 1`, kp),
	hold("literal ansi unicode", `$'\u006b\u0069ll' 1`, kp),
	hold("pkill", "pkill -f nginx", kp),
	hold("killall", "killall nginx", kp),
	hold("skill", "skill -KILL -u bob", kp),
	hold("systemctl kill", "systemctl kill nginx", kp).at(w("systemctl", 0), w("kill", 10)),
	hold("systemctl kill with option value", "systemctl -s SIGKILL kill nginx", kp),
	hold("systemctl kill long option", "systemctl --signal=KILL kill nginx", kp),
	hold("two actions strictest quorum", "kill 1; isi hardening disable", dh, kp),

	// Wrappers, recursively.
	hold("sudo user", "sudo -u root kill 1", kp),
	hold("sudo attached user", "sudo -uroot kill 1", kp),
	hold("sudo long user", "sudo --user=root kill 1", kp),
	hold("sudo double dash", "sudo -- kill 1", kp),
	// Read as --frobnicate taking no value, x is an unknown program whose
	// argument names kill: unresolved as well (issue 18).
	hold("sudo unknown option", "sudo --frobnicate x kill 1", kp, un),
	hold("sudo shell", "sudo -s", un),
	hold("sudo login shell with command", "sudo -i kill 1", kp, un),
	hold("sudo sudo", "sudo sudo kill 1", kp),
	hold("doas", "doas kill 1", kp),
	hold("doas user", "doas -u root kill 1", kp),
	hold("su -c", "su -c 'kill 1'", kp),
	hold("su -c after user", "su root -c 'kill 1'", kp),
	hold("su bare", "su root", un),
	hold("runuser", "runuser -u root -- kill 1", kp), // runuser -u USER CMD runs CMD (issue 18)
	hold("env assignment", "env A=1 kill 1", kp),
	hold("env ignore", "env -i kill 1", kp),
	hold("env split string", "env -S 'kill 1'", kp),
	hold("env PATH", "env PATH=/tmp ls", un),
	hold("command", "command kill 1", kp),
	hold("command -p", "command -p kill 1", kp),
	allow("command -v", "command -v kill"),
	hold("builtin", "builtin kill 1", kp),
	hold("exec", "exec kill 1", kp),
	hold("exec -a", "exec -a foo kill 1", kp),
	hold("exec -a multi-call", "exec -a kill busybox 1", kp),
	hold("nohup", "nohup kill 1", kp),
	hold("nice", "nice -n 5 kill 1", kp),
	hold("nice old style", "nice -10 kill 1", kp),
	hold("ionice", "ionice -c 3 kill 1", kp),
	hold("timeout signal", "timeout -s 9 5 kill 1", kp),
	hold("timeout unknown option", "timeout -v 5 kill 1", kp),
	hold("time command", "/usr/bin/time -f %e kill 1", kp),
	hold("setsid", "setsid -f kill 1", kp),
	hold("stdbuf", "stdbuf -oL kill 1", kp),
	hold("chroot", "chroot /srv kill 1", kp),
	hold("chroot bare", "chroot /srv", un),
	hold("flock", "flock /tmp/l kill 1", kp),
	hold("flock -c", "flock /tmp/l -c 'kill 1'", kp),
	hold("watch", "watch -n 1 kill 1", kp),
	hold("watch string", "watch 'kill 1'", kp),
	hold("strace", "strace -f -o /tmp/t kill 1", kp),
	hold("xargs options", "echo 1 | xargs -n 1 -P 4 kill", kp),
	hold("xargs replace name", "echo kill | xargs -I{} {} 1", kp, un),
	hold("xargs replace in sh -c", "echo kill | xargs -I% sh -c '% 1'", kp, un),
	hold("xargs appends zfs args", "echo destroy tank@s | xargs zfs", ds, un),
	hold("find exec semicolon", `find /proc -name x -exec kill {} \;`, kp),
	hold("find execdir", "find . -execdir kill {} +", kp),
	hold("find ok", `find . -ok kill {} ';'`, kp),
	hold("find exec placeholder name", `find /bin -name kill -exec {} 1 \;`, kp, un),
	hold("busybox", "busybox kill 1", kp),
	hold("busybox sh", "busybox sh -c 'kill 1'", kp),
	hold("bash -c", `bash -c "kill 1"`, kp),
	hold("dash -c", "dash -c 'kill 1'", kp),
	hold("zsh -c", "zsh -c 'kill 1'", kp),
	hold("bash -ec cluster", "bash -ec 'kill 1'", kp),
	hold("bash -o option then -c", "bash -o pipefail -c 'kill 1'", kp),
	hold("bash +x -c", "bash +x -c 'kill 1'", kp),
	hold("sh -c with args", `sh -c 'kill "$1"' sh 1`, kp),
	hold("sh -c nested", `sh -c "sh -c 'kill 1'"`, kp),
	hold("sh -c escaped quotes", `bash -c "echo \"x\"; kill 1"`, kp),
	hold("sh -c variable", `sh -c "$CMD"`, un),
	hold("sh -c missing", "sh -c", un),
	hold("ssh", "ssh host kill 1", kp),
	hold("ssh quoted", "ssh host 'kill 1'", kp).at(w("kill", 10)),
	hold("ssh options", "ssh -p 22 -i key root@host kill 1", kp),
	hold("ssh bare", "ssh host", un),
	hold("ssh proxy command", "ssh -o ProxyCommand='kill 1' host uptime", kp, un),
	hold("sudo sh -c", "sudo sh -c 'kill 1'", kp),
	hold("timeout sudo env sh", "timeout 5 sudo env A=1 sh -c 'nice kill 1'", kp),
	hold("trap", "trap 'kill 1' EXIT", kp),
	hold("alias body", "alias x='kill 1'; x", kp),
	hold("alias later use", "alias k=kill", kp),
	hold("hash -p", "hash -p /bin/kill ls; ls 1", kp),
	hold("hash -p untrusted", "hash -p /tmp/x ls; ls", un),
	hold("hash -p zfs", "hash -p /sbin/zfs ls; ls destroy t@s", ds, un),
	hold("BASH_CMDS", "BASH_CMDS[ls]=/bin/kill; ls 1", kp, un),
	hold("mapfile callback", "mapfile -C 'kill 1' -c 1 x < /etc/hosts", kp),
	hold("isi_for_array site wrapper", "isi_for_array -s 'isi snapshot snapshots delete s1'", ds),
	hold("isi_for_array kill", "isi_for_array -n 1-3 kill 1", kp),
	hold("systemd-run", "systemd-run --unit x kill 1", kp),

	// Snapshots.
	hold("isi snapshot delete", "isi snapshot snapshots delete snap1", ds).at(w("isi", 0), w("snapshot", 4), w("snapshots", 13), w("delete", 23)),
	hold("isi snapshot modify", "isi snapshot snapshots modify snap1 --expires 1D", ds),
	hold("isi schedules delete", "isi snapshot schedules delete daily --force", ds),
	hold("isi schedules modify", "isi snapshot schedules modify daily --enabled false", ds),
	hold("isi snapshot delete with option", "isi --timeout 30 snapshot snapshots delete s1", ds),
	hold("isi snapshot delete all", "isi snapshot snapshots delete --all", ds),
	hold("isi path", "/usr/bin/isi snapshot snapshots delete s1", ds),
	hold("isi quoted subcommand", `isi snapshot "snapshots" del''ete s1`, ds),
	hold("isi variable subcommand", "isi snapshot $X delete s1", ds, un),
	hold("isi glob subcommand", "isi snapshot snap* delete s1", ds, un),
	hold("zfs destroy", "zfs destroy tank@snap", ds).at(w("zfs", 0), w("destroy", 4)),
	hold("zfs destroy recursive", "zfs destroy -r tank/fs@snap", ds),
	hold("zfs rollback", "zfs rollback tank@snap", ds),
	hold("sudo zfs destroy", "sudo zfs destroy tank@snap", ds),
	hold("btrfs subvolume delete", "btrfs subvolume delete /mnt/snap", ds),
	hold("lvremove", "lvremove -f vg/snap", ds),
	hold("lvm lvremove", "lvm lvremove vg/snap", ds),
	hold("snapshot and kill", "zfs destroy t@s && kill 1", ds, kp),
	hold("snapshot target match", "zfs destroy t@s", ds),

	// Hardening.
	hold("hardening apply", "isi hardening apply STIG", ah).at(w("isi", 0), w("hardening", 4), w("apply", 14)),
	hold("hardening disable", "isi hardening disable STIG", dh),
	hold("hardening revert", "isi hardening revert", dh),
	hold("hardening via sudo sh", "sudo sh -c 'isi hardening apply STIG'", ah),
	hold("hardening in substitution", "echo $(isi hardening apply STIG)", ah),
	allow("hardening list", "isi hardening list"),
	allow("hardening view", "isi hardening view STIG"),

	// Deny.
	deny("rm -rf /", "rm -rf /", wr),
	deny("rm -fr /", "rm -fr /", wr),
	deny("sudo rm -rf /", "sudo rm -rf /", wr),
	deny("rm in sh -c", "sh -c 'rm -rf /'", wr),
	deny("deny wins over action", "kill 1; rm -rf /", wr),
	deny("deny maybe", `rm -rf "$DIR"`, wr),
	allow("rm tmp", "rm -rf /tmp/x"),

	// Harmless lines.
	allow("echo kill", "echo kill"),
	allow("grep kill", "grep kill /var/log/syslog"),
	allow("man kill", "man kill"),
	allow("ps grep kill", "ps aux | grep kill"),
	allow("zfs list", "zfs list -t snapshot"),
	allow("isi snapshot list", "isi snapshot snapshots list"),
	allow("comment", "# kill 1"),
	allow("uptime", "uptime"),
	allow("ls", "ls -la"),
	allow("empty", ""),
	allow("blank", "   "),
	allow("df", "df -h"),
	allow("cat file", "cat /etc/hosts"),
	allow("journalctl", "journalctl -u nginx --since today"),
	allow("systemctl status", "systemctl status nginx"),
	allow("systemctl status word kill", "systemctl status kill"),
	// The word after an option may be its value, so "status" is skipped
	// here and kill matches: a documented over-hold.
	hold("systemctl quiet status", "systemctl -q status kill", kp),
	allow("zfs get", "zfs get all tank"),
	allow("btrfs list", "btrfs subvolume list /"),
	allow("lvs", "lvs"),
	allow("isi status", "isi status"),
	allow("isi snapshot schedules list", "isi snapshot schedules list"),
	allow("echo quoted", `echo "kill 1"`),
	allow("printf", `printf '%s\n' kill`),
	allow("single quoted substitution", `echo '$(kill 1)'`),
	allow("escaped substitution", `echo \$\(kill 1\)`),
	allow("awk print", `awk '{print $1}' /etc/passwd`),
	allow("sed", `sed -n 1p /etc/hostname`),
	allow("grep pipe wc", "grep -c kill /var/log/syslog | wc -l"),
	allow("find print", "find /var/log -name '*.gz' -mtime +7"),
	allow("sudo ls", "sudo ls /root"),
	allow("sh -c harmless", "sh -c 'uptime; df -h'"),
	allow("ssh harmless", "ssh host uptime"),
	allow("timeout harmless", "timeout 5 ping -c 1 host"),
	allow("xargs harmless", "ls | xargs wc -l"),
	allow("env print", "env"),
	allow("variable argument", `ls "$HOME"`),
	allow("assignment", "x=1; echo $x"),
	allow("for echo", "for i in 1 2; do echo $i; done"),
	allow("which kill", "which kill"),
	allow("type kill", "type kill"),
	allow("trap list", "trap -l"),
	allow("kill in heredoc", "cat <<'EOF'\nkill 1\nEOF"),
	allow("kill as grep argument via sudo", "sudo grep -r kill /etc"),
	allow("tail", "tail -n 100 /var/log/messages"),
	allow("PAGER cat", "PAGER=cat man ls"),
	allow("date", "date -u"),
	allow("glob argument", "ls /var/log/*.log"),

	// Unresolved. Since issue 18 the action is named too where the line
	// shows it (a glob that matches kill, kill named in python -c code, an
	// arithmetic operand that is a command's output): still held, and the
	// approvers learn more than "unresolved".
	hold("variable command", "$X 1", un).at(w("$X", 0)),
	hold("braced variable command", "${X} 1", un),
	hold("substitution as command", "$(echo kill) 1", kp, un),
	hold("backquote as command", "`echo kill` 1", kp, un),
	hold("glob command", "/bin/k?ll 1", kp, un),
	hold("star glob command", "/bin/ki* 1", kp, un),
	hold("bracket glob command", "/bin/[k]ill 1", kp, un),
	hold("tilde command", "~/bin/x", un),
	hold("relative path", "./kill 1", kp, un),
	hold("untrusted path", "/tmp/kill 1", kp, un),
	hold("untrusted renamed", "/tmp/x 1", un),
	hold("dot dot escape", "/usr/bin/../../tmp/k 1", un),
	hold("eval literal kill", "eval 'kill 1'", kp),
	allow("eval literal echo", "eval echo hi"),
	hold("eval partial", `eval "kill $X"`, kp, un),
	hold("source", "source /tmp/x.sh", un),
	hold("dot", ". /tmp/x.sh", un),
	hold("bash script", "bash x.sh", un),
	hold("sh stdin", "echo 'kill 1' | sh", kp, un),
	// The script a shell reads is the here-string or here-document: the
	// action is named exactly (issue 18).
	hold("bash here-string", "bash <<< 'kill 1'", kp),
	hold("bash here-doc", "bash <<EOF\nkill 1\nEOF", kp),
	hold("bash process substitution file", "bash <(echo kill 1)", kp, un),
	hold("python script", "python3 x.py", un),
	hold("perl -e", `perl -e 'kill 9, 1'`, kp, un),
	hold("ruby -e", `ruby -e 'Process.kill(9,1)'`, kp, un),
	hold("node -e", `node -e 'process.kill(1)'`, kp, un),
	hold("awk system", `awk 'BEGIN{system("kill 1")}'`, kp, un),
	hold("awk pipe", `awk 'BEGIN{print "x" | "sh"}'`, un),
	hold("awk file", "awk -f x.awk", un),
	hold("make", "make deploy", un),
	hold("npm run", "npm run stop", un),
	hold("ansible-playbook", "ansible-playbook site.yml", un),
	hold("run-parts", "run-parts /etc/cron.daily", un),
	hold("PATH assignment", "PATH=/tmp ls", un),
	hold("PATH standalone", "PATH=/tmp:$PATH; ls", un),
	hold("export PATH", "export PATH=/tmp", un),
	hold("LD_PRELOAD", "LD_PRELOAD=/tmp/x.so ls", un),
	hold("BASH_ENV", "BASH_ENV=/tmp/x bash -c true", un),
	hold("read PATH", "read PATH < /tmp/p", un),
	hold("for PATH", "for PATH in /tmp; do ls; done", un),
	hold("PAGER command", "PAGER='kill 1' man ls", kp),
	hold("declare nameref", "declare -n p=PATH", un),
	hold("arithmetic variable subscript", `x='a[$(kill 1)]'; echo $((x))`, kp, un),
	hold("let subscript", `let 'a[$(kill 1)]=1'`, kp),
	hold("test -v subscript", `[[ -v 'a[$(kill 1)]' ]]`, kp),
	hold("parse error", "kill (", kp, un),
	hold("unterminated quote", "echo 'kill 1", kp, un),
	hold("unterminated substitution", "echo $(kill 1", kp, un),
	hold("written then run", "cp /bin/kill /usr/local/bin/k; k 1", kp, un),
	hold("redirect written then run", "echo 'kill 1' > /usr/local/bin/k; k", kp, un),
	hold("ln written then run", "ln -s /bin/kill /usr/local/bin/k && k 1", kp, un),
	hold("written then chmod and run", "printf 'kill 1' > x; chmod +x x; ./x", kp, un),
	hold("unquoted variable in wrapper", "sudo $OPTS kill 1", kp, un),
	hold("variable wrapper value", `timeout "$T" kill 1`, kp, un),
	hold("sudo variable command", `sudo "$CMD"`, un),
	hold("ssh variable command", `ssh host "$CMD"`, un),
	hold("find variable path", `find "$D" -exec kill {} +`, kp, un),
	hold("extglob command", "@(kill) 1", kp, un),
	hold("enable -f", "enable -f /tmp/x.so kill", kp, un),
	hold("fc", "fc -s", un),
	hold("at", "echo 'kill 1' | at now", kp, un),
	hold("git config alias", "git -c alias.x='!kill 1' x", kp, un),
	hold("tar to-command", "tar xf a.tar --to-command='kill 1'", kp, un),
	hold("man pager", "man -P 'kill 1' ls", kp, un),
	// docker exec is a runner with a grammar now (issue 18).
	hold("docker", "docker exec c kill 1", kp),

	// Terminals and targets.
	{name: "pty man", line: "man kill", pty: true, want: Deny, actions: []string{is}},
	{name: "pty top", line: "top", pty: true, want: Deny, actions: []string{is}},
	{name: "pty kill", line: "kill 1", pty: true, want: Deny, actions: []string{is, kp}},
	{name: "target match", line: "zfs destroy t@s", target: "nas-1", want: Hold, actions: []string{ds}},
}

func TestDecide(t *testing.T) {
	if len(decideCases) < 200 {
		t.Errorf("only %d cases; want at least 200", len(decideCases))
	}
	p := shippedPolicy(t)
	names := map[string]bool{}
	for _, c := range decideCases {
		if names[c.name] {
			t.Errorf("duplicate case name %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			d := p.Decide(Input{Command: c.line, PTY: c.pty, Target: c.target})
			var got []string
			for _, a := range d.Actions {
				got = append(got, a.Name)
			}
			want := append([]string(nil), c.actions...)
			sortStrings(want)
			if d.Verdict != c.want || !cmp.Equal(got, want) {
				t.Errorf("Decide(%q) = %v %v; want %v %v\n%s", c.line, d.Verdict, got, c.want, want, d.Message())
			}
			if c.words != nil {
				if len(d.Why) == 0 {
					t.Fatalf("Decide(%q): no Why", c.line)
				}
				if diff := cmp.Diff(c.words, d.Why[0].Words); diff != "" {
					t.Errorf("Decide(%q).Why[0].Words (-want +got):\n%s", c.line, diff)
				}
			}
			for _, m := range d.Why {
				for _, wd := range m.Words {
					if wd.Offset < 0 || wd.End > len(c.line) || wd.Offset > wd.End {
						t.Errorf("Decide(%q): word %+v outside the line", c.line, wd)
					}
				}
			}
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestDecideShell(t *testing.T) {
	p := shippedPolicy(t)
	d := p.Decide(Input{Shell: true})
	if d.Verdict != Deny || len(d.Actions) != 1 || d.Actions[0] != InteractiveAction {
		t.Errorf("Decide(shell) = %v %v; want deny [interactive_shell]", d.Verdict, d.Actions)
	}
}

func TestDecideQuorum(t *testing.T) {
	p := shippedPolicy(t)
	d := p.Decide(Input{Command: "kill 1; isi hardening disable x"})
	if d.Quorum != 3 {
		t.Errorf("Quorum = %d; want 3 (the strictest)", d.Quorum)
	}
	d = p.Decide(Input{Command: "zfs destroy t@s"})
	if !d.ReasonRequired {
		t.Errorf("ReasonRequired = false; want true for delete_snapshot")
	}
}

func TestDecideTargetsAndTerminal(t *testing.T) {
	p, err := Parse("t.yaml", []byte(`
version: 1
shell: hold
terminal_allow:
  - command: [top, htop]
actions:
  - name: nas_only
    service: s
    match: [{command: zfs, args: [destroy]}]
    targets: ["nas-*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   Input
		want Verdict
	}{
		{Input{Command: "zfs destroy t@s", Target: "nas-1"}, Hold},
		{Input{Command: "zfs destroy t@s", Target: "web-1"}, Allow},
		{Input{Command: "zfs destroy t@s"}, Hold},
		{Input{Command: "top", PTY: true}, Allow},
		{Input{Command: "top; vi", PTY: true}, Hold},
		{Input{Command: "vi", PTY: true}, Hold},
		{Input{Shell: true}, Hold},
	}
	for _, tt := range tests {
		if got := p.Decide(tt.in).Verdict; got != tt.want {
			t.Errorf("Decide(%+v) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	p := shippedPolicy(t)
	m := p.Decide(Input{Command: "sudo kill 1"}).Message()
	for _, want := range []string{"held for approval", "kill_process", `"kill"@5-9`, "via sudo"} {
		if !strings.Contains(m, want) {
			t.Errorf("Message() = %q; want it to contain %q", m, want)
		}
	}
}

func ExamplePolicy_Decide() {
	p, err := Parse("example.yaml", []byte(`
version: 1
actions:
  - name: kill_process
    service: process
    match:
      - command: [kill, pkill]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range []string{"uptime", "sudo /bin/kill -9 1", "$CMD 1"} {
		d := p.Decide(Input{Command: line})
		fmt.Printf("%-20s %v %v\n", line, d.Verdict, d.Actions)
	}
	// Output:
	// uptime               allow []
	// sudo /bin/kill -9 1  hold [{kill_process process}]
	// $CMD 1               hold [{unresolved_command shell}]
}
