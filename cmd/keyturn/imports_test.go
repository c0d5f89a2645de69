package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/keyturn/keyturn"

// importRule says which packages pkgs may not depend on, directly or
// through another package.
type importRule struct {
	name string
	// from matches the packages the rule is about.
	from func(pkg string) bool
	// banned reports whether a dependency breaks the rule.
	banned func(dep string) bool
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
}

func is(pkg string) func(string) bool { return func(p string) bool { return p == pkg } }

func anyOf(preds ...func(string) bool) func(string) bool {
	return func(p string) bool {
		for _, f := range preds {
			if f(p) {
				return true
			}
		}
		return false
	}
}

// importRules are the package graph's directions (README, Development):
// the pure policy at the bottom, the approval domain above it knowing no
// storage and no SSH, the transport knowing no UI, no store
// implementation, metrics or notifications (bastion/server assembles it
// from those).
var importRules = []importRule{
	{
		name:   "policy imports no project package",
		from:   is(module + "/policy"),
		banned: under(module),
	},
	{
		name: "bastion/mpa imports neither Badger nor SSH nor etcd",
		from: is(module + "/bastion/mpa"),
		banned: anyOf(under("github.com/dgraph-io/badger/v4"), under("golang.org/x/crypto/ssh"),
			under("github.com/gliderlabs/ssh"), under("go.etcd.io/etcd")),
	},
	{
		name:   "nothing under bastion/ imports tui/",
		from:   under(module + "/bastion"),
		banned: under(module + "/tui"),
	},
	{
		name: "the gate's root package imports no store implementation, metrics or notify",
		from: is(module + "/bastion"),
		banned: anyOf(under(module+"/bastion/store"), under(module+"/bastion/metrics"),
			under(module+"/bastion/notify")),
	},
}

// skipRules are rules the code does not meet yet, with why. (None: the
// last one left went with issue 11 item 1, assembly in bastion/server.)
var skipRules = map[string]string{}

// violations lists, for graph (package -> its dependencies, transitively),
// every "pkg -> dep" that breaks r, in graph order.
func (r importRule) violations(graph map[string][]string) []string {
	var out []string
	for pkg, deps := range graph {
		if !r.from(pkg) {
			continue
		}
		for _, d := range deps {
			if r.banned(d) {
				out = append(out, pkg+" -> "+d)
			}
		}
	}
	return out
}

// packageGraph is `go list -deps` for every package of the module: each
// package with all it depends on, tests left out.
func packageGraph(t *testing.T) map[string][]string {
	t.Helper()
	// go test puts its own go first on PATH.
	cmd := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			graph[f[0]] = f[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read go list output: %v", err)
	}
	for _, want := range []string{module + "/policy", module + "/bastion", module + "/bastion/mpa"} {
		if _, ok := graph[want]; !ok {
			t.Fatalf("go list did not list %s; the graph it read has %d packages", want, len(graph))
		}
	}
	return graph
}

// TestImportRules checks the package graph as `go list -deps` shows it.
func TestImportRules(t *testing.T) {
	graph := packageGraph(t)
	for _, r := range importRules {
		t.Run(r.name, func(t *testing.T) {
			v := r.violations(graph)
			if why, ok := skipRules[r.name]; ok && len(v) > 0 {
				t.Skipf("%s; imports today: %s", why, strings.Join(v, ", "))
			}
			for _, e := range v {
				t.Errorf("%s: %s", r.name, e)
			}
		})
	}
}

// Each rule finds the import it forbids in a graph that has one, and
// nothing in one that does not: the check above can fail.
func TestImportRulesCatch(t *testing.T) {
	bad := map[string][]string{
		module + "/policy":            {"strings", module + "/bastion/config"},
		module + "/bastion/mpa":       {"context", "golang.org/x/crypto/ssh/agent"},
		module + "/bastion/mpacli":    {module + "/tui/styles"},
		module + "/bastion":           {module + "/bastion/store/badgerstore"},
		module + "/bastion/mpa/extra": {"github.com/dgraph-io/badger/v4"},
	}
	good := map[string][]string{
		module + "/policy":      {"strings", "go.yaml.in/yaml/v3"},
		module + "/bastion/mpa": {module + "/policy", module + "/bastion/audit"},
		module + "/tui":         {module + "/bastion/mpa", module + "/bastion/termsafe"},
		module + "/bastion":     {module + "/bastion/mpa", module + "/bastion/targets", module + "/bastion/storetest"},
	}
	for _, r := range importRules {
		if v := r.violations(bad); len(v) != 1 {
			t.Errorf("%s: in the bad graph found %q; want exactly one violation", r.name, v)
		}
		if v := r.violations(good); len(v) != 0 {
			t.Errorf("%s: in the good graph found %q; want none", r.name, v)
		}
	}
}
