package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Policy is a parsed policies.yaml. It is immutable after [Parse] and safe for
// concurrent use.
type Policy struct {
	defaults      Defaults
	unresolved    Verdict
	shell         Verdict
	terminalAllow []Rule
	trusted       map[string]bool
	actions       []Action
	deny          []denyRule
	wrappers      *wrapperSet
	inert         *nameSet
	persist       []string // places whose writing makes the system run something later
	vars          variables
	groupUses     []GroupUse // where approvers rules name groups

	// index finds the rules that may match a command name without scanning
	// every rule; globRules holds the ones whose command is a pattern.
	index      map[string][]ruleRef
	globRules  []ruleRef
	writeRules []ruleRef
}

// Defaults apply to actions that do not set their own values.
type Defaults struct {
	RequiredApprovals int           `json:"required_approvals"`
	PendingTTL        time.Duration `json:"pending_ttl"`
	ApprovalTTL       time.Duration `json:"approval_ttl"`
	ReasonRequired    bool          `json:"reason_required"`
}

// Action is a privileged action: commands that need approval before they run.
type Action struct {
	Name              string        `json:"name"`
	Service           string        `json:"service"`
	Description       string        `json:"description,omitempty"`
	RequiredApprovals int           `json:"required_approvals"`
	PendingTTL        time.Duration `json:"pending_ttl"`
	ApprovalTTL       time.Duration `json:"approval_ttl"`
	ReasonRequired    bool          `json:"reason_required"`
	Targets           []string      `json:"targets,omitempty"`
	Match             []Rule        `json:"match"`
	// Approvers, if set, says who must approve: every line met by its own
	// approvers (see approvers.go). Empty: any RequiredApprovals approvers.
	Approvers []ApproverLine `json:"approvers,omitempty"`
}

// Rule is one entry of a match list. A command matches when its name matches
// one of Commands and Args match its leading arguments in order (see
// [Policy.Decide] for how options are skipped). Both may be path.Match globs.
type Rule struct {
	Commands []string `json:"command"`
	Args     []string `json:"args,omitempty"`
	// With: the rule matches only if some argument matches one of these
	// (oscap ... --remediate, wherever it stands).
	With []string `json:"with,omitempty"`
	// Unless: the rule does not match when an option before the first
	// operand matches one of these (kill -l lists signals, --version).
	Unless []string `json:"unless,omitempty"`
	// UnlessOperands: the rule does not match when the command has
	// operands and every one is a literal matching one of these (kill %1
	// signals one of the line's own jobs, never another process).
	UnlessOperands []string `json:"unless_operands,omitempty"`
	// Writes: the rule matches a write to one of these paths (echo 0 >
	// /sys/fs/selinux/enforce) instead of a command.
	Writes []string `json:"writes,omitempty"`
	// ID is where the rule stands in the file, e.g. "actions[0].match[1]".
	ID string `json:"id"`
}

func (r Rule) String() string {
	s := strings.Join(r.Commands, "|")
	if len(r.Args) > 0 {
		s += " " + strings.Join(r.Args, " ")
	}
	if len(r.With) > 0 {
		s += " with " + strings.Join(r.With, "|")
	}
	if len(r.Unless) > 0 {
		s += " unless " + strings.Join(r.Unless, "|")
	}
	if len(r.UnlessOperands) > 0 {
		s += " unless operands " + strings.Join(r.UnlessOperands, "|")
	}
	if len(r.Writes) > 0 {
		s = strings.TrimSpace(s + " writes " + strings.Join(r.Writes, "|"))
	}
	return s
}

type denyRule struct {
	name    string
	targets []string
	match   []Rule
}

type ruleKind int

const (
	kindAction ruleKind = iota
	kindDeny
)

type ruleRef struct {
	kind ruleKind
	idx  int // into actions or deny
	rule *Rule
}

// Actions returns the privileged actions in force, in file order.
func (p *Policy) Actions() []Action {
	out := make([]Action, len(p.actions))
	copy(out, p.actions)
	return out
}

// Defaults returns the policy's defaults.
func (p *Policy) Defaults() Defaults { return p.defaults }

// Load reads and parses the policy file at path. Errors name the file, line
// and column.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the document's root node, or a positioned error.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Line: 1, Col: 1, Msg: "empty policy file"}
		}
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: name, Line: line, Col: 1, Msg: m[2]}
		}
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: "empty policy file"}
	}
	return doc.Content[0], nil
}

var topFields = []string{
	"version", "defaults", "unresolved", "shell", "terminal_allow", "trusted_paths",
	"actions", "deny", "wrappers", "inert", "persistence", "unresolved_variables", "command_variables",
}

// Parse parses a policy. name is used in error positions.
func Parse(name string, data []byte) (*Policy, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: name}
	f, err := d.fields(root, "", topFields...)
	if err != nil {
		return nil, err
	}
	if err := d.version(root, f); err != nil {
		return nil, err
	}
	builtin, err := builtinWrappers()
	if err != nil {
		return nil, fmt.Errorf("policy: built-in wrappers: %w", err)
	}
	p := newPolicy(builtin)
	if err := d.settings(f, p); err != nil {
		return nil, err
	}
	if err := d.rules(f, p); err != nil {
		return nil, err
	}
	if err := d.catalogue(f, p, builtin); err != nil {
		return nil, err
	}
	p.buildIndex()
	return p, nil
}

// version checks the file says which format it is in: version 1, the only
// one.
func (d *decoder) version(root *yaml.Node, f map[string]field) error {
	v, ok := f["version"]
	if !ok {
		return d.errf(root, "missing field \"version\" (want version: 1)")
	}
	n, err := d.integer(v.val, "version")
	if err != nil {
		return err
	}
	if n != 1 {
		return d.errf(v.val, "version: unsupported version %d (want 1)", n)
	}
	return nil
}

// newPolicy is a policy with keyturn's defaults, before the file's
// settings: two approvals, a week to decide and a week to run, unresolved
// lines held, shells denied, and the catalogue's variable names.
func newPolicy(builtin *builtin) *Policy {
	return &Policy{
		defaults: Defaults{
			RequiredApprovals: 2,
			PendingTTL:        168 * time.Hour,
			ApprovalTTL:       168 * time.Hour,
		},
		unresolved: Hold,
		shell:      Deny,
		trusted:    map[string]bool{},
		vars:       builtin.vars.clone(),
	}
}

// settings reads the file's top-level settings into p: defaults, the
// unresolved and shell verdicts, and the trusted paths.
func (d *decoder) settings(f map[string]field, p *Policy) error {
	if x, ok := f["defaults"]; ok {
		if err := d.defaults(x.val, &p.defaults); err != nil {
			return err
		}
	}
	r := d.reader(nil, f, "")
	optional(r, "unresolved", &p.unresolved, d.holdOrDeny)
	optional(r, "shell", &p.shell, d.holdOrDeny)
	trusted := []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin"}
	x := optional(r, "trusted_paths", &trusted, d.plainList)
	if r.err != nil {
		return r.err
	}
	if x != nil {
		for i, t := range trusted {
			if !path.IsAbs(t) {
				return d.errf(x.Content[i], "trusted_paths: %q is not an absolute path", t)
			}
		}
	}
	for _, t := range trusted {
		p.trusted[path.Clean(t)] = true
	}
	return nil
}

// rules reads what the file matches lines against: terminal_allow,
// actions and deny.
func (d *decoder) rules(f map[string]field, p *Policy) error {
	var err error
	if x, ok := f["terminal_allow"]; ok {
		if p.terminalAllow, err = d.matchList(x.val, "terminal_allow", true); err != nil {
			return err
		}
	}
	if x, ok := f["actions"]; ok {
		if err := d.actions(x.val, p); err != nil {
			return err
		}
	}
	if x, ok := f["deny"]; ok {
		if err := d.denyList(x.val, p); err != nil {
			return err
		}
	}
	return nil
}

// catalogue merges the site's additions to the built-in catalogue into p:
// wrappers, inert programs, persistence and variable names.
func (d *decoder) catalogue(f map[string]field, p *Policy, builtin *builtin) error {
	r := d.reader(nil, f, "")
	var site []*wrapper
	var siteInert, persist, unresolvedVars, commandVars []string
	optional(r, "wrappers", &site, d.wrapperList)
	optional(r, "inert", &siteInert, d.globList)
	optional(r, "persistence", &persist, d.persistList)
	optional(r, "unresolved_variables", &unresolvedVars, d.globList)
	optional(r, "command_variables", &commandVars, d.globList)
	if r.err != nil {
		return r.err
	}
	// The site's word wins over the catalogue's: a program the site lists
	// as inert is no longer a runner, and one it lists as a runner is no
	// longer inert.
	p.inert = builtin.inert.clone()
	p.wrappers = builtin.wrappers.with(site).without(siteInert)
	p.inert.add(siteInert)
	for _, w := range site {
		for _, c := range w.commands {
			delete(p.inert.names, c)
		}
	}
	p.persist = append(slices.Clone(builtin.persist), persist...)
	p.vars.unresolved = append(p.vars.unresolved, unresolvedVars...)
	p.vars.command = append(p.vars.command, commandVars...)
	return nil
}

func (d *decoder) defaults(n *yaml.Node, out *Defaults) error {
	f, err := d.fields(n, "defaults", "required_approvals", "pending_ttl", "approval_ttl", "reason")
	if err != nil {
		return err
	}
	r := d.reader(n, f, "defaults")
	d.approvalSettings(r, out)
	return r.err
}

// approvalSettings reads what an action shares with the defaults: how
// many approve, how long a request waits and an approval lasts, and
// whether a reason is required. Fields the mapping leaves out keep the
// value out has.
func (d *decoder) approvalSettings(r *fieldReader, out *Defaults) {
	optional(r, "required_approvals", &out.RequiredApprovals, d.quorum)
	optional(r, "pending_ttl", &out.PendingTTL, d.duration)
	optional(r, "approval_ttl", &out.ApprovalTTL, d.duration)
	optional(r, "reason", &out.ReasonRequired, d.reason)
}

func (d *decoder) actions(n *yaml.Node, p *Policy) error {
	if n.Kind != yaml.SequenceNode {
		return d.errf(n, "actions: want a list, got %s", NodeKind(n))
	}
	seen := map[string]bool{}
	for i, an := range n.Content {
		ctx := namedContext(an, "action", fmt.Sprintf("actions[%d]", i))
		f, err := d.fields(an, ctx, "name", "service", "description", "match",
			"required_approvals", "pending_ttl", "approval_ttl", "reason", "targets", "approvers")
		if err != nil {
			return err
		}
		var a Action
		r := d.reader(an, f, ctx)
		x := required(r, "name", &a.Name, d.str)
		if r.err != nil {
			return r.err
		}
		if !validName(a.Name) {
			return d.errf(x, "%s: name %q: want lower case letters, digits and _", ctx, a.Name)
		}
		if seen[a.Name] {
			return d.errf(x, "actions[%d]: duplicate action name %q", i, a.Name)
		}
		seen[a.Name] = true
		ctx = fmt.Sprintf("action %q", a.Name)
		r.ctx = ctx
		required(r, "service", &a.Service, d.str)
		optional(r, "description", &a.Description, d.str)
		required(r, "match", &a.Match, d.nonEmptyMatchList)
		for j := range a.Match {
			a.Match[j].ID = fmt.Sprintf("actions[%d].match[%d]", i, j)
		}
		settings := p.defaults
		d.approvalSettings(r, &settings)
		a.RequiredApprovals, a.PendingTTL, a.ApprovalTTL, a.ReasonRequired =
			settings.RequiredApprovals, settings.PendingTTL, settings.ApprovalTTL, settings.ReasonRequired
		optional(r, "targets", &a.Targets, d.globList)
		if r.err != nil {
			return r.err
		}
		if x, ok := f["approvers"]; ok {
			_, explicit := f["required_approvals"]
			if err := d.approvers(p, x.val, ctx, &a, explicit); err != nil {
				return err
			}
		}
		p.actions = append(p.actions, a)
	}
	return nil
}

func (d *decoder) denyList(n *yaml.Node, p *Policy) error {
	if n.Kind != yaml.SequenceNode {
		return d.errf(n, "deny: want a list, got %s", NodeKind(n))
	}
	for i, dn := range n.Content {
		ctx := namedContext(dn, "deny rule", fmt.Sprintf("deny[%d]", i))
		f, err := d.fields(dn, ctx, "name", "match", "targets")
		if err != nil {
			return err
		}
		rule := denyRule{name: fmt.Sprintf("deny[%d]", i)}
		r := d.reader(dn, f, ctx)
		optional(r, "name", &rule.name, d.str)
		required(r, "match", &rule.match, d.nonEmptyMatchList)
		for j := range rule.match {
			rule.match[j].ID = fmt.Sprintf("deny[%d].match[%d]", i, j)
		}
		optional(r, "targets", &rule.targets, d.globList)
		if r.err != nil {
			return r.err
		}
		p.deny = append(p.deny, rule)
	}
	return nil
}

// matchList reads a list of {command, args}. An empty list is an error unless
// emptyOK, because an action that matches nothing is almost always a typo.
func (d *decoder) matchList(n *yaml.Node, ctx string, emptyOK bool) ([]Rule, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, "%s: want a list, got %s", ctx, NodeKind(n))
	}
	if len(n.Content) == 0 && !emptyOK {
		return nil, d.errf(n, "%s: empty match list", ctx)
	}
	out := make([]Rule, 0, len(n.Content))
	for i, mn := range n.Content {
		mctx := fmt.Sprintf("%s[%d]", ctx, i)
		f, err := d.fields(mn, mctx, "command", "args", "with", "unless", "unless_operands", "writes")
		if err != nil {
			return nil, err
		}
		var r Rule
		for _, l := range []struct {
			key string
			dst *[]string
		}{{"with", &r.With}, {"unless", &r.Unless}, {"unless_operands", &r.UnlessOperands}, {"writes", &r.Writes}} {
			if x, ok := f[l.key]; ok {
				if *l.dst, err = d.globList(x.val, mctx+": "+l.key); err != nil {
					return nil, err
				}
			}
		}
		x, ok := f["command"]
		if !ok && len(r.Writes) > 0 {
			r.ID = mctx
			out = append(out, r)
			continue
		}
		if !ok {
			return nil, d.errf(mn, "%s: missing field \"command\"", mctx)
		}
		if r.Commands, err = d.commandList(x.val, mctx+": command"); err != nil {
			return nil, err
		}
		for j, c := range r.Commands {
			if c == "" || strings.Contains(c, "/") {
				return nil, d.errf(elem(x.val, j), "%s: command %q: want a command name without a directory", mctx, c)
			}
		}
		if x, ok := f["args"]; ok {
			if r.Args, err = d.stringList(x.val, mctx+": args", false); err != nil {
				return nil, err
			}
			if err := d.checkGlobs(x.val, r.Args, mctx+": args"); err != nil {
				return nil, err
			}
		}
		r.ID = mctx
		out = append(out, r)
	}
	return out, nil
}

// commandList reads the command names (or globs) of a rule or a wrapper
// entry: one, or a list of at least one.
func (d *decoder) commandList(n *yaml.Node, ctx string) ([]string, error) {
	l, err := d.stringList(n, ctx, true)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, d.errf(n, "%s: empty list", ctx)
	}
	if err := d.checkGlobs(n, l, ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// nonEmptyMatchList is matchList for the rules of an action or a deny
// entry, which must match something.
func (d *decoder) nonEmptyMatchList(n *yaml.Node, ctx string) ([]Rule, error) {
	return d.matchList(n, ctx, false)
}

func elem(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

func (d *decoder) checkGlobs(n *yaml.Node, pats []string, ctx string) error {
	for i, p := range pats {
		if _, err := path.Match(p, ""); err != nil {
			return d.errf(elem(n, i), "%s: bad glob %q", ctx, p)
		}
	}
	return nil
}

func (d *decoder) globList(n *yaml.Node, ctx string) ([]string, error) {
	l, err := d.stringList(n, ctx, true)
	if err != nil {
		return nil, err
	}
	return l, d.checkGlobs(n, l, ctx)
}

func (d *decoder) str(n *yaml.Node, ctx string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errf(n, "%s: want a string, got %s", ctx, NodeKind(n))
	}
	return n.Value, nil
}

// stringList reads a list of strings, or one string when single is true
// (command: kill and command: [kill, pkill] both read well).
func (d *decoder) stringList(n *yaml.Node, ctx string, single bool) ([]string, error) {
	if n.Kind == yaml.ScalarNode && single && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		want := "a list of strings"
		if single {
			want = "a string or a list of strings"
		}
		return nil, d.errf(n, "%s: want %s, got %s", ctx, want, NodeKind(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		s, err := d.str(e, ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// plainList is stringList where one string alone is not a list.
func (d *decoder) plainList(n *yaml.Node, ctx string) ([]string, error) {
	return d.stringList(n, ctx, false)
}

func (d *decoder) integer(n *yaml.Node, ctx string) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, d.errf(n, "%s: want an integer, got %s", ctx, NodeKind(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, d.errf(n, "%s: want an integer, got %q", ctx, n.Value)
	}
	return v, nil
}

func (d *decoder) boolean(n *yaml.Node, ctx string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, d.errf(n, "%s: want true or false, got %s", ctx, NodeKind(n))
	}
	return n.Value == "true", nil
}

func (d *decoder) quorum(n *yaml.Node, ctx string) (int, error) {
	v, err := d.integer(n, ctx)
	if err != nil {
		return 0, err
	}
	if v < 1 {
		return 0, d.errf(n, "%s: %d is less than 1 (the requester never counts, so at least one other person must approve)", ctx, v)
	}
	return v, nil
}

func (d *decoder) duration(n *yaml.Node, ctx string) (time.Duration, error) {
	s, err := d.str(n, ctx)
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, d.errf(n, "%s: bad duration %q (want e.g. 30m, 24h, 168h)", ctx, s)
	}
	return v, nil
}

func (d *decoder) reason(n *yaml.Node, ctx string) (bool, error) {
	s, err := d.str(n, ctx)
	if err != nil {
		return false, err
	}
	switch s {
	case "optional":
		return false, nil
	case "required":
		return true, nil
	}
	return false, d.errf(n, "%s: unknown value %q (want optional or required)", ctx, s)
}

func (d *decoder) holdOrDeny(n *yaml.Node, ctx string) (Verdict, error) {
	s, err := d.str(n, ctx)
	if err != nil {
		return 0, err
	}
	switch s {
	case "hold":
		return Hold, nil
	case "deny":
		return Deny, nil
	}
	return 0, d.errf(n, "%s: unknown verdict %q (want hold or deny)", ctx, s)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (p *Policy) buildIndex() {
	p.index = map[string][]ruleRef{}
	add := func(ref ruleRef) {
		if len(ref.rule.Writes) > 0 {
			p.writeRules = append(p.writeRules, ref)
		}
		for _, c := range ref.rule.Commands {
			if isGlob(c) {
				p.globRules = append(p.globRules, ref)
				continue
			}
			p.index[c] = append(p.index[c], ref)
		}
	}
	for i := range p.deny {
		for j := range p.deny[i].match {
			add(ruleRef{kind: kindDeny, idx: i, rule: &p.deny[i].match[j]})
		}
	}
	for i := range p.actions {
		for j := range p.actions[i].Match {
			add(ruleRef{kind: kindAction, idx: i, rule: &p.actions[i].Match[j]})
		}
	}
}

func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }
