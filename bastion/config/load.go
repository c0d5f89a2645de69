package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// Load reads and checks the config file at path. Every problem found is
// reported, each as "file:line:col: message".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse checks config data; name is used in messages and relative paths in
// the config are resolved against its directory.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(name, err)
	}
	d := &decoder{file: name, nodes: make(map[string]*yaml.Node)}
	c := &Config{path: name}
	d.decode(&root, reflect.ValueOf(c).Elem(), "")
	if len(d.errs) > 0 {
		d.nameByName()
		return nil, errors.Join(d.errs...)
	}
	c.applyDefaults(filepath.Dir(name))
	v := &validator{decoder: d, dir: filepath.Dir(name)}
	v.check(c)
	if len(d.errs) > 0 {
		d.nameByName()
		return nil, errors.Join(d.errs...)
	}
	return c, nil
}

var indexedPath = regexp.MustCompile(`^(users|targets|webhooks)\[(\d+)\](\.?)(.*)$`)

// nameByName rewrites "users[0].keys[1]: ..." as "user "alice": keys[1]:
// ...": a person finds a user, target or webhook in the file by its name,
// not by counting. An entry without a usable name keeps its index, and so
// does a name given twice (the index is what tells the two apart).
func (d *decoder) nameByName() {
	singular := map[string]string{"users": "user", "targets": "target", "webhooks": "webhook"}
	nameOf := func(list, index string) string {
		n := d.nodes[list+"["+index+"]"]
		if n == nil || n.Kind != yaml.MappingNode {
			return ""
		}
		for k := 0; k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == "name" && n.Content[k+1].Kind == yaml.ScalarNode {
				return n.Content[k+1].Value
			}
		}
		return ""
	}
	// A name given twice does not tell its entries apart.
	seen := map[string]int{}
	for p := range d.nodes {
		if m := indexedPath.FindStringSubmatch(p); m != nil && m[3] == "" && m[4] == "" {
			seen[m[1]+"/"+nameOf(m[1], m[2])]++
		}
	}
	for _, err := range d.errs {
		pe, ok := err.(*PosError)
		if !ok || strings.Contains(pe.Msg, "defined twice") {
			continue
		}
		m := indexedPath.FindStringSubmatch(pe.Msg)
		if m == nil {
			continue
		}
		name := nameOf(m[1], m[2])
		if name == "" || !validName.MatchString(name) || seen[m[1]+"/"+name] > 1 {
			continue
		}
		label := fmt.Sprintf("%s %q", singular[m[1]], name)
		rest := m[4]
		if strings.Contains(rest, label) {
			continue // the message names it already
		}
		if m[3] == "." {
			rest = ": " + rest
		}
		pe.Msg = label + rest
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError gives yaml.v3's parse errors the file:line:col form; the
// parser reports no column, so column 1 stands for "this line".
func syntaxError(name string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &PosError{File: name, Line: line, Col: 1, Msg: m[2]}
	}
	return &PosError{File: name, Msg: cleanYAMLError(err)}
}

func (c *Config) applyDefaults(dir string) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Policies == "" {
		c.Policies = DefaultPolicies
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
	if c.MaxCommandLine == 0 {
		c.MaxCommandLine = DefaultMaxCommandLine
	}
	if c.Store.Reserve == 0 {
		c.Store.Reserve = DefaultReserve
	}
	if c.TOTP.LockoutThreshold == 0 {
		c.TOTP.LockoutThreshold = DefaultLockout
	}
	if c.TOTP.LockoutDuration == 0 {
		c.TOTP.LockoutDuration = Duration(DefaultLockoutFor)
	}
	c.DataDir = resolve(dir, c.DataDir)
	c.Policies = resolve(dir, c.Policies)
	c.Store.EncryptionKeyFile = resolve(dir, c.Store.EncryptionKeyFile)
	if c.Store.Backend == "" {
		c.Store.Backend = BackendBadger
	}
	if c.Store.Backend == BackendEtcd && c.Store.Prefix == "" {
		c.Store.Prefix = DefaultEtcdPrefix
	}
	if c.Store.Backend == BackendEtcd && c.Store.LeaseTTL == 0 {
		c.Store.LeaseTTL = DefaultLeaseTTL
	}
	c.Store.TLS.CA = resolve(dir, c.Store.TLS.CA)
	c.Store.TLS.Cert = resolve(dir, c.Store.TLS.Cert)
	c.Store.TLS.Key = resolve(dir, c.Store.TLS.Key)
	for i := range c.Users {
		c.Users[i].AuthorizedKeys = resolve(dir, c.Users[i].AuthorizedKeys)
	}
	for i := range c.Targets {
		c.Targets[i].KnownHosts = resolve(dir, c.Targets[i].KnownHosts)
		if c.Targets[i].ShellWrapper == "" {
			c.Targets[i].ShellWrapper = ShellWrapperAuto
		}
	}
	c.Audit.File = resolve(dir, c.Audit.File)
	c.UserCAKeysFile = resolve(dir, c.UserCAKeysFile)
	c.RevokedKeys = resolve(dir, c.RevokedKeys)
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		w.SecretFile = resolve(dir, w.SecretFile)
		if w.Timeout == 0 {
			w.Timeout = Duration(DefaultWebhookTimeout)
		}
		if w.Attempts == 0 {
			w.Attempts = DefaultWebhookAttempts
		}
		if w.Queue == 0 {
			w.Queue = DefaultWebhookQueue
		}
	}
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// validator checks what the types alone cannot, pointing at the value.
type validator struct {
	*decoder
	dir string
}

func (v *validator) at(path string) *yaml.Node {
	if n, ok := v.nodes[path]; ok {
		return n
	}
	// A field the file left out: point at what contains it.
	for p := path; p != ""; {
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
		if n, ok := v.nodes[p]; ok {
			return n
		}
	}
	if n, ok := v.nodes[""]; ok {
		return n
	}
	return &yaml.Node{}
}

func (v *validator) check(c *Config) {
	if c.Name != "" && !validName.MatchString(c.Name) {
		v.errorf(v.at("name"), "name: want letters, digits, '.', '_' or '-', got %q", c.Name)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		v.errorf(v.at("listen"), "listen: want host:port, got %q", c.Listen)
	}
	v.checkUserCAs(c)
	v.checkOutput(c)
	if c.MaxCommandLine < 1<<10 || c.MaxCommandLine > MaxCommandLineLimit {
		v.errorf(v.at("max_command_line"), "max_command_line: want 1KiB to 256KiB, got %d bytes", c.MaxCommandLine)
	}
	users := make(map[string]bool)
	for i := range c.Users {
		v.checkUser(&c.Users[i], fmt.Sprintf("users[%d]", i), users, len(c.userCAs) > 0)
	}
	v.checkSharedKeys(c)
	v.checkPrincipals(c)
	targets := make(map[string]bool)
	for i := range c.Targets {
		v.checkTarget(&c.Targets[i], fmt.Sprintf("targets[%d]", i), targets)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			v.errorf(v.at("metrics.listen"), "metrics.listen: want host:port, got %q", c.Metrics.Listen)
		}
	}
	hooks := make(map[string]bool)
	for i := range c.Webhooks {
		v.checkWebhook(&c.Webhooks[i], fmt.Sprintf("webhooks[%d]", i), hooks)
	}
	v.checkStore(c)
	v.checkLimits(&c.Limits)
}

// validName keeps names usable in a login name, where "+" separates the user
// from the target.
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// checkName checks the name of the user or target (what) at p: usable in
// a login name, and not one an earlier entry in seen already has.
func (v *validator) checkName(p, what, name string, seen map[string]bool) {
	switch {
	case !validName.MatchString(name):
		v.errorf(v.at(p+".name"), "%s.name: want letters, digits, '.', '_' or '-', got %q", p, name)
	case seen[name]:
		v.errorf(v.at(p+".name"), "%s.name: %s %q defined twice", p, what, name)
	}
	seen[name] = true
}

func (v *validator) checkUser(u *User, p string, seen map[string]bool, certs bool) {
	v.checkName(p, "user", u.Name, seen)
	v.checkGroups(u, p)
	for j, r := range u.Roles {
		if r != RoleAdmin && r != RoleApprover && r != RoleAuditor {
			v.errorf(v.at(fmt.Sprintf("%s.roles[%d]", p, j)), "%s.roles[%d]: unknown role %q (want admin, approver or auditor)", p, j, r)
		}
	}
	for j, line := range u.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", p, j)
		key, _, options, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			v.errorf(v.at(kp), "%s: not an authorized_keys line: %v", kp, err)
			continue
		}
		if len(options) > 0 {
			v.errorf(v.at(kp), "%s: %s", kp, errKeyOptions)
			continue
		}
		u.keys = append(u.keys, parsedKey{key: key, source: kp, field: kp})
	}
	if u.AuthorizedKeys != "" {
		keys, err := readAuthorizedKeys(u.AuthorizedKeys)
		if err != nil {
			v.errorf(v.at(p+".authorized_keys"), "%s.authorized_keys: %v", p, err)
		}
		for i := range keys {
			keys[i].field = p + ".authorized_keys"
		}
		u.keys = append(u.keys, keys...)
	}
	if len(u.keys) == 0 && len(u.Keys) == 0 && u.AuthorizedKeys == "" && !certs {
		v.errorf(v.at(p), "%s: user %q has no keys (set keys or authorized_keys)", p, u.Name)
	}
	for j, g := range u.Targets {
		if _, err := path.Match(g, ""); err != nil {
			v.errorf(v.at(fmt.Sprintf("%s.targets[%d]", p, j)), "%s.targets[%d]: bad glob %q", p, j, g)
		}
	}
}

func (v *validator) checkTarget(t *Target, p string, seen map[string]bool) {
	v.checkName(p, "target", t.Name, seen)
	if _, _, err := net.SplitHostPort(t.Address); err != nil {
		v.errorf(v.at(p+".address"), "%s.address: want host:port, got %q", p, t.Address)
	}
	if t.User == "" {
		v.errorf(v.at(p+".user"), "%s.user: the login name on the target is required", p)
	}
	for j, line := range t.HostKeys {
		kp := fmt.Sprintf("%s.host_keys[%d]", p, j)
		if _, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line)); err != nil {
			v.errorf(v.at(kp), "%s: not a public key line: %v", kp, err)
		}
	}
	if t.KnownHosts != "" {
		if _, err := os.Stat(t.KnownHosts); err != nil {
			v.errorf(v.at(p+".known_hosts"), "%s.known_hosts: %v", p, err)
		}
	}
	if len(t.HostKeys) == 0 && t.KnownHosts == "" {
		v.errorf(v.at(p), "%s: target %q has no host keys (set host_keys or known_hosts)", p, t.Name)
	}
	if t.Shell != "" && !validShell.MatchString(t.Shell) {
		v.errorf(v.at(p+".shell"), "%s.shell: want an absolute path of letters, digits, '/', '.', '_', '+' or '-', got %q", p, t.Shell)
	}
	if t.ShellWrapper != ShellWrapperAuto && t.ShellWrapper != ShellWrapperAlways {
		v.errorf(v.at(p+".shell_wrapper"), "%s.shell_wrapper: want %s or %s, got %q", p, ShellWrapperAuto, ShellWrapperAlways, t.ShellWrapper)
	}
}

// validShell is a path the gate can put in a command line without quoting.
var validShell = regexp.MustCompile(`^/[A-Za-z0-9/._+-]*$`)

// checkSharedKeys refuses a key listed for two users: its holder would be
// two identities, and could approve their own request as the other one.
func (v *validator) checkSharedKeys(c *Config) {
	owner := make(map[string]string)
	for i := range c.Users {
		u := &c.Users[i]
		for _, k := range u.keys {
			fp := gossh.FingerprintSHA256(k.key)
			if other, ok := owner[fp]; ok && other != u.Name {
				v.errorf(v.at(k.field), "%s: key %s is also %s's; one key is one person", k.source, fp, other)
				continue
			}
			owner[fp] = u.Name
		}
	}
}
