package policy

import (
	"os"
	"testing"
)

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

// benchLines is a mix like a day on a bastion: mostly harmless reads, some
// privileged actions, a few tricks.
var benchLines = []string{
	"uptime", "ls -la /var/log", "df -h", "ps aux | grep nginx", "tail -n 200 /var/log/messages",
	"systemctl status nginx", "zfs list -t snapshot", "isi snapshot snapshots list",
	"grep -r error /var/log/syslog | wc -l", "cat /etc/hosts",
	"sudo kill -9 1234", "isi snapshot snapshots delete snap1", "zfs destroy tank@daily",
	"isi hardening apply STIG", "sh -c 'kill 1'", "find / -name core -exec rm {} +",
	`f(){ kill "$@"; }; f 1`, "eval \"$X\"", "for i in 1 2 3; do echo $i; done",
	"journalctl -u sshd --since today | tail",
}

func BenchmarkDecide(b *testing.B) {
	p := shippedPolicy(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Decide(Input{Command: benchLines[i%len(benchLines)]})
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
