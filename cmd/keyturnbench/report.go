package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Results are every figure of one run; --json writes them as they are.
type Results struct {
	Command        string                           `json:"command"`
	Quick          bool                             `json:"quick"`
	Machine        Machine                          `json:"machine"`
	Algorithms     []algSet                         `json:"algorithms"`
	ClientKex      string                           `json:"client_default_kex"`
	ClientCiphers  string                           `json:"client_default_ciphers"`
	Negotiated     map[string]map[string]Negotiated `json:"negotiated"` // alg set, path
	Cold           map[string]map[string]Dist       `json:"cold_exec"`  // alg set, path
	Warm           map[string]Dist                  `json:"warm_exec_controlmaster"`
	WarmPair       *WarmPair                        `json:"warm_exec_pair,omitempty"` // warm.go
	Throughput     map[string]map[string]Throughput `json:"throughput"`               // alg set, path
	ThroughputSize int64                            `json:"throughput_bytes"`
	Concurrency    []Concurrency                    `json:"concurrency"`
	Approval       *Approval                        `json:"approval,omitempty"`
	Decisions      Decisions                        `json:"decisions"`
	Goals          []Goal                           `json:"goals"`
	Seconds        float64                          `json:"seconds"`
}

// Machine is where the figures were measured.
type Machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	Kernel  string `json:"kernel"`
	OpenSSH string `json:"openssh"`
	Go      string `json:"go"`
}

// Goal is one of issue 7's goals with the figure that decides it.
type Goal struct {
	Goal   string `json:"goal"`
	Figure string `json:"figure"`
	Met    bool   `json:"met"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		m.OpenSSH = strings.TrimSpace(string(out))
	}
	return m
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func cell(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// printTable writes the figures for people: one row per measurement, the
// three paths side by side, and their ratios against direct.
func printTable(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nkeyturnbench: %d CPUs, %s; %s\n", r.Machine.CPUs, r.Machine.CPU, r.Machine.OpenSSH)
	for _, a := range r.Algorithms {
		if a.Kex != "" {
			fmt.Fprintf(w, "  %-8s pinned: kex %s, cipher %s on every hop\n", a.Name, a.Kex, a.Cipher)
		}
	}
	fmt.Fprintf(w, "  default  client's own choice: kex %s; ciphers %s\n", r.ClientKex, r.ClientCiphers)
	for _, a := range r.Algorithms {
		var parts []string
		for _, p := range paths {
			n := r.Negotiated[a.Name][p]
			parts = append(parts, fmt.Sprintf("%s %s/%s", p, n.Kex, n.Cipher))
		}
		fmt.Fprintf(w, "  negotiated (%s): %s\n", a.Name, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tdirect\tproxyjump\tkeyturn\tproxyjump/direct\tkeyturn/direct\t")
	row := func(name string, v map[string]float64) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, cell(v[pathDirect]), cell(v[pathProxyJump]), cell(v[pathKeyturn]),
			ratio(v[pathProxyJump], v[pathDirect]), ratio(v[pathKeyturn], v[pathDirect]))
	}
	for _, a := range r.Algorithms {
		if c, ok := r.Cold[a.Name]; ok {
			row(fmt.Sprintf("cold exec p50 ms [%s, n=%d]", a.Name, c[pathDirect].N), pick(c, func(d Dist) float64 { return d.P50ms }))
			row(fmt.Sprintf("cold exec p99 ms [%s]", a.Name), pick(c, func(d Dist) float64 { return d.P99ms }))
		}
	}
	if r.Warm != nil {
		row(fmt.Sprintf("warm exec p50 ms [aes, ControlMaster, n=%d]", r.Warm[pathDirect].N), pick(r.Warm, func(d Dist) float64 { return d.P50ms }))
		row("warm exec p99 ms [aes, ControlMaster]", pick(r.Warm, func(d Dist) float64 { return d.P99ms }))
	}
	for _, a := range r.Algorithms {
		if t, ok := r.Throughput[a.Name]; ok {
			v := map[string]float64{}
			for p, x := range t {
				v[p] = x.MiBps
			}
			row(fmt.Sprintf("throughput MiB/s [%s, %d MiB]", a.Name, r.ThroughputSize>>20), v)
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	for _, c := range r.Concurrency {
		fmt.Fprintf(w, "concurrency %d sessions through the gate (each `sleep %g`): errors %d, p50 %.0f ms, p99 %.0f ms; gate RSS %.1f MiB before, peak %.1f MiB (%.0f KiB per session)\n",
			c.Sessions, c.HoldSeconds, c.Latency.Errors, c.Latency.P50ms, c.Latency.P99ms, c.GateRSSMiB, c.GatePeakMiB, c.PerSessionKB)
	}
	if a := r.Approval; a != nil {
		fmt.Fprintf(w, "approval to execution, %d held requests (quorum %d), errors %d: p50 %.1f ms, p99 %.1f ms\n  measured %s\n",
			a.Requests, a.Quorum, a.Latency.Errors, a.Latency.P50ms, a.Latency.P99ms, a.Method)
	}
	printWarmPair(w, r.WarmPair)
	fmt.Fprintf(w, "policy decisions: %.0f per second on one goroutine (%s, %d lines in turn)\n", r.Decisions.PerSecond, r.Decisions.Policy, r.Decisions.Lines)

	fmt.Fprintln(w, "\ngoals (issue 7):")
	for _, g := range r.Goals {
		mark := "MET   "
		if !g.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, g.Goal, g.Figure)
	}
	fmt.Fprintf(w, "\n%.0f s in all\n", r.Seconds)
}

func pick(m map[string]Dist, f func(Dist) float64) map[string]float64 {
	v := map[string]float64{}
	for p, d := range m {
		v[p] = f(d)
	}
	return v
}

// goals judges the figures against issue 7's goals.
func goals(r *Results) []Goal {
	var gs []Goal
	if c, ok := r.Cold["aes"]; ok {
		k, d, j := c[pathKeyturn].P50ms, c[pathDirect].P50ms, c[pathProxyJump].P50ms
		gs = append(gs, Goal{"cold exec p50 at most 0.85x direct and below ProxyJump",
			fmt.Sprintf("%.2fx direct (%.1f vs %.1f ms), ProxyJump %.1f ms", k/d, k, d, j), k <= 0.85*d && k < j})
	}
	if r.Warm != nil {
		k, d := r.Warm[pathKeyturn].P50ms, r.Warm[pathDirect].P50ms
		gs = append(gs, Goal{"warm exec p50 (ControlMaster) at most 1.10x direct",
			fmt.Sprintf("%.2fx (%.1f vs %.1f ms)", k/d, k, d), k <= 1.10*d})
	}
	if r.WarmPair != nil {
		gs = append(gs, warmPairGoal(r.WarmPair))
	}
	if t, ok := r.Throughput["aes"]; ok {
		k, d := t[pathKeyturn].MiBps, t[pathDirect].MiBps
		fig := fmt.Sprintf("%.2fx (%.0f vs %.0f MiB/s)", k/d, k, d)
		if c, ok := r.Throughput["chacha"]; ok {
			fig += fmt.Sprintf("; chacha20-poly1305 %.2fx (%.0f vs %.0f MiB/s)", c[pathKeyturn].MiBps/c[pathDirect].MiBps, c[pathKeyturn].MiBps, c[pathDirect].MiBps)
		}
		gs = append(gs, Goal{"throughput at least 0.80x direct with AES-GCM", fig, k >= 0.80*d})
	}
	for _, c := range r.Concurrency {
		if c.Sessions == 500 {
			gs = append(gs, Goal{"500 concurrent sessions, no errors, gate RSS under 200 MiB",
				fmt.Sprintf("%d errors, peak %.1f MiB", c.Latency.Errors, c.GatePeakMiB), c.Latency.Errors == 0 && c.GatePeakMiB < 200})
		}
	}
	if a := r.Approval; a != nil {
		gs = append(gs, Goal{"approval to execution p99 under 50 ms",
			fmt.Sprintf("p99 %.1f ms over %d requests (%d errors)", a.Latency.P99ms, a.Requests, a.Latency.Errors),
			a.Latency.P99ms < 50 && a.Latency.Errors == 0 && a.Requests > 0})
	}
	gs = append(gs, Goal{"at least 100,000 decisions per second",
		fmt.Sprintf("%.0f per second", r.Decisions.PerSecond), r.Decisions.PerSecond >= 100000})
	return gs
}

func writeJSON(path string, r any) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
