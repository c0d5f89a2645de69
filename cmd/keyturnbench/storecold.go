package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// Paths of the store cold run: a gate on Badger and one on etcd.
const (
	pathKeyturnEtcd = "keyturn-etcd"
)

// StoreCold is the cold-ssh figures of the --store-cold run.
type StoreCold struct {
	Runs  int             `json:"runs_per_path"`
	Paths map[string]Dist `json:"cold_exec"` // direct, keyturn (Badger), keyturn-etcd
	// AddedP50ms and AddedP99ms are keyturn-etcd less keyturn: what the
	// etcd store adds to a cold ssh through a gate.
	AddedP50ms float64 `json:"etcd_added_p50_ms"`
	AddedP99ms float64 `json:"etcd_added_p99_ms"`
}

// storeColdBench measures a cold ssh (a new ssh process running `true`)
// directly, through a gate on Badger (its data dir, synced) and through a
// gate on a three-member etcd cluster on loopback (in this process), the
// two gates running side by side with the same keys and targets, and the
// paths taking turns run by run so that the machine's load falls on all
// alike. Each session through a gate records its decision before the
// command runs: the etcd gate pays etcd round trips there.
func storeColdBench(ctx context.Context, o options, runs int) (StoreCold, error) {
	e, err := setup(ctx, o)
	if err != nil {
		return StoreCold{}, err
	}
	defer e.close(o.keep)

	progress("starting a three-member etcd cluster on loopback")
	cl, err := etcdtest.StartCluster(3)
	if err != nil {
		return StoreCold{}, err
	}
	defer cl.Stop()

	// The etcd gate: the same host and client keys as the Badger gate
	// (so targets and known_hosts take it), its own data dir.
	edir := filepath.Join(e.dir, "etcd-gate")
	edata := filepath.Join(edir, "data")
	if err := os.MkdirAll(edata, 0o700); err != nil {
		return StoreCold{}, err
	}
	for _, f := range []string{bastion.ClientKeyFile, bastion.HostKeyFile} {
		if err := copyFile(filepath.Join(e.dir, "gate-data", f), filepath.Join(edata, f)); err != nil {
			return StoreCold{}, err
		}
	}
	secret := filepath.Join(edir, "secrets.key")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		return StoreCold{}, err
	}
	base, err := e.writeGateConfig(edata, e.alicePub, o.policies)
	if err != nil {
		return StoreCold{}, err
	}
	text, err := os.ReadFile(base)
	if err != nil {
		return StoreCold{}, err
	}
	cfg := string(text) + fmt.Sprintf("gate_id: bench-etcd\nstore:\n  backend: etcd\n  endpoints: [%s]\n  prefix: /keyturnbench/cold/\n  encryption_key_file: %s\n",
		strings.Join(cl.Endpoints, ", "), secret)
	cfgPath := filepath.Join(edir, "keyturn.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return StoreCold{}, err
	}
	eg, err := startGate(ctx, e.bin, edir, cfgPath)
	if err != nil {
		return StoreCold{}, fmt.Errorf("etcd gate: %w", err)
	}
	defer eg.stop()
	if err := e.addGateAlias(pathKeyturnEtcd, eg); err != nil {
		return StoreCold{}, err
	}

	cold := []string{pathDirect, pathKeyturn, pathKeyturnEtcd}
	// Warm-up: each gate dials its pooled target connection.
	for _, p := range cold {
		if _, out, err := e.ssh(ctx, 30*time.Second, "aes", p, "true"); err != nil {
			return StoreCold{}, fmt.Errorf("warm-up over %s: %v\n%s", p, err, out)
		}
	}
	progress("cold exec, %d runs per path: direct, gate on Badger, gate on etcd", runs)
	samples := map[string][]time.Duration{}
	errs := map[string]int{}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		for j := range cold {
			p := cold[(i+j)%len(cold)]
			took, _, err := e.ssh(ctx, 30*time.Second, "aes", p, "true")
			if err != nil {
				errs[p]++
				logErr(errs[p], err)
				continue
			}
			samples[p] = append(samples[p], took)
		}
	}
	r := StoreCold{Runs: runs, Paths: map[string]Dist{}}
	for _, p := range cold {
		r.Paths[p] = distOf(samples[p], errs[p])
	}
	r.AddedP50ms = r.Paths[pathKeyturnEtcd].P50ms - r.Paths[pathKeyturn].P50ms
	r.AddedP99ms = r.Paths[pathKeyturnEtcd].P99ms - r.Paths[pathKeyturn].P99ms
	return r, nil
}

// addGateAlias adds Host alias for gate g (same user and key as the
// "keyturn" alias) to every ssh_config, and g's port to known_hosts with
// the gates' shared host key.
func (e *env) addGateAlias(alias string, g *gateProc) error {
	hostKey, err := bastion.LoadOrCreateKey(filepath.Join(e.dir, "gate-data", bastion.HostKeyFile))
	if err != nil {
		return err
	}
	known, err := os.OpenFile(filepath.Join(e.dir, "known_hosts"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(known, "[127.0.0.1]:%s %s\n", g.port, bastion.AuthorizedKey(hostKey.PublicKey(), ""))
	if cerr := known.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, a := range algSets {
		path := e.sshConfig[a.Name]
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Before "Host *": ssh takes each option's first value.
		block := fmt.Sprintf("Host %s\n  HostName 127.0.0.1\n  Port %s\n  User alice+t-%s\n  IdentityFile %s\n\n", alias, g.port, a.Name, e.alice)
		text := strings.Replace(string(old), "Host *\n", block+"Host *\n", 1)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// printStoreCold prints the store cold run as a table.
func printStoreCold(w io.Writer, r StoreCold) {
	fmt.Fprintf(w, "\nCold ssh (new ssh process, `true`), gate on Badger vs gate on a 3-member etcd, %d runs per path\n", r.Runs)
	fmt.Fprintf(w, "%-14s %5s %7s %9s %9s %9s\n", "path", "n", "errors", "p50 ms", "p99 ms", "max ms")
	for _, p := range []string{pathDirect, pathKeyturn, pathKeyturnEtcd} {
		d := r.Paths[p]
		fmt.Fprintf(w, "%-14s %5d %7d %9.2f %9.2f %9.2f\n", p, d.N, d.Errors, d.P50ms, d.P99ms, d.MaxMs)
	}
	fmt.Fprintf(w, "etcd adds: p50 %+.2f ms, p99 %+.2f ms (goal: at most 5 ms)\n", r.AddedP50ms, r.AddedP99ms)
}
