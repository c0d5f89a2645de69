package main

import (
	"fmt"
	"time"

	"github.com/keyturn/keyturn/policy"
)

// decideLines are what admins send: mostly allowed lines, some held, some
// that go through wrappers or cannot be resolved.
var decideLines = []string{
	"true",
	"uptime; id -un",
	"systemctl status nginx",
	"tail -n 100 /var/log/syslog | grep -i error",
	"kill -9 1234",
	"sudo -u root /bin/kill -HUP 1",
	"isi snapshot snapshots delete snap1",
	"find /tmp -name '*.core' -exec rm {} +",
	"for p in $(pgrep java); do echo $p; done",
	"sh -c 'zfs destroy tank/home@yesterday'",
	"X=kill; $X 1",
	"df -h && free -m",
}

// Decisions is the policy matcher's rate.
type Decisions struct {
	PerSecond float64 `json:"per_second"`
	Decisions int     `json:"decisions"`
	Lines     int     `json:"lines"`
	Policy    string  `json:"policy"`
}

// decisionsPerSecond loads the shipped policy and decides decideLines in
// turn on one goroutine for about d.
func decisionsPerSecond(path string, d time.Duration) (Decisions, error) {
	p, err := policy.Load(path)
	if err != nil {
		return Decisions{}, fmt.Errorf("load policy %s: %w", path, err)
	}
	res := Decisions{Lines: len(decideLines), Policy: path}
	start := time.Now()
	var took time.Duration
	for took < d {
		for _, line := range decideLines {
			p.Decide(policy.Input{Command: line, Target: "web-1"})
		}
		res.Decisions += len(decideLines)
		took = time.Since(start)
	}
	res.PerSecond = float64(res.Decisions) / took.Seconds()
	return res, nil
}
