package bastion

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gliderlabs/ssh"
	"gopkg.in/yaml.v3"

	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

// The words a requester reads. Byte offsets and rule paths such as
// actions[0].match[0] stay in the audit record and --json; a person sees
// the command with the words that decided it underlined, the action's
// description, and the rule by its action's name.

// describer is the part of the policy in force that knows what each
// action is for; *PolicyHolder has it.
type describer interface {
	Actions() []policy.Action
}

// explain renders decision d on command for the person who sent it, one
// line per entry, without a "keyturn:" prefix, as [mpawords.Explain]
// renders a decision everywhere; the gate adds what only it knows: the
// actions' descriptions and the line of each rule in the policy in force.
func explain(command string, d policy.Decision, desc describer) []string {
	descs := map[string]string{}
	if desc != nil {
		for _, a := range desc.Actions() {
			descs[a.Name] = a.Description
		}
	}
	return mpawords.Explain(command, d, descs, func(rule string) string {
		if file, line := ruleLineOf(desc, rule); line > 0 {
			return fmt.Sprintf("%s line %d", file, line)
		}
		return ruleNumber(rule)
	})
}

var rulePath = regexp.MustCompile(`^(?:actions|deny)\[\d+\]\.match\[(\d+)\]$`)

// ruleNumber turns "actions[2].match[0]" into "match rule 1": the action
// is already named, and people count from one.
func ruleNumber(id string) string {
	m := rulePath.FindStringSubmatch(id)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[1])
	return fmt.Sprintf("match rule %d", n+1)
}

// plural is "1 approval" or "2 approvals".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// expiresIn says when at is, from now, the way a person reads it: "in 6d
// 23h (2026-12-08 21:27 UTC)".
func expiresIn(at, now time.Time) string {
	return fmt.Sprintf("in %s (%s)", roughDuration(at.Sub(now)), at.UTC().Format("2006-01-02 15:04 UTC"))
}

// roughDuration shows d in its two largest units: "6d 23h", "4h 5m",
// "3m 20s", "45s".
func roughDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days := int(d / (24 * time.Hour))
	h := int(d % (24 * time.Hour) / time.Hour)
	m := int(d % time.Hour / time.Minute)
	s := int(d % time.Minute / time.Second)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// sayLines writes lines to the session's stderr, the first with the
// "keyturn: " prefix and the rest under it, in CRLF on a terminal.
func (g *Gate) sayLines(s ssh.Session, lines []string) {
	if len(lines) == 0 {
		return
	}
	_, _, pty := s.Pty()
	say(s, "%s", indentCR("keyturn: "+strings.Join(lines, "\n"), pty))
}

// describer returns the policy's action descriptions, if the gate's
// decider has them.
func (g *Gate) describer() describer {
	if d, ok := g.policy.(describer); ok {
		return d
	}
	return nil
}

// neverApproved says why a request for d by requester could never reach
// its quorum (fewer registered approvers, the requester excluded, than it
// needs), or "" if it could. Asking people for approvals that cannot
// come would leave the requester waiting for nothing.
func (g *Gate) neverApproved(ctx context.Context, requester string, d policy.Decision) string {
	approvers, err := g.mpa.Approvers(ctx)
	if err != nil {
		// Fail closed elsewhere: the request is still made and held.
		g.log.Error("count approvers", "err", err)
		return ""
	}
	n := eligibleApprovers(g.cfg, approvers, requester)
	if n >= d.Quorum {
		short, err := g.mpa.GroupShortfall(ctx, requester, mpawords.Actions(d.Actions), mpawords.Rules(d.Approvers))
		if err != nil {
			g.log.Error("check approver groups", "err", err)
			return ""
		}
		if len(short) == 0 {
			return ""
		}
		return fmt.Sprintf("%s needs approvers from groups that do not have enough registered approvers other than %s (%s), so it could never be approved; ask an admin to add approvers to those groups",
			strings.Join(actionNames(d.Actions), ", "), requester, strings.Join(short, "; "))
	}
	return fmt.Sprintf("%s needs %s but only %s other than %s %s registered, so it could never be approved; ask an admin to register more approvers",
		strings.Join(actionNames(d.Actions), ", "), plural(d.Quorum, "approval"), plural(n, "approver"), requester, isAre(n))
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// ruleLiner is the part of the policy in force that can say on which line
// of its file a rule stands; *PolicyHolder has it.
type ruleLiner interface {
	RuleLine(id string) (file string, line int)
}

func ruleLineOf(desc describer, id string) (string, int) {
	if rl, ok := desc.(ruleLiner); ok && id != "" {
		return rl.RuleLine(id)
	}
	return "", 0
}

var ruleIndexes = regexp.MustCompile(`^(actions|deny)\[(\d+)\]\.match\[(\d+)\]$`)

// PolicyRuleLine is the line of rule id ("actions[2].match[0]") in policy
// text, or 0: how tools name a rule to a person.
func PolicyRuleLine(text []byte, id string) int { return ruleLine(text, id) }

// ruleLine finds the line of rule id ("actions[2].match[0]") in policy
// text, or 0. It reads the YAML as a node tree only for positions; the
// policy itself was parsed by the policy package.
func ruleLine(text []byte, id string) int {
	m := ruleIndexes.FindStringSubmatch(id)
	if m == nil {
		return 0
	}
	var root yaml.Node
	if yaml.Unmarshal(text, &root) != nil || len(root.Content) == 0 {
		return 0
	}
	i, _ := strconv.Atoi(m[2])
	j, _ := strconv.Atoi(m[3])
	list := mapValue(root.Content[0], m[1])
	if list == nil || list.Kind != yaml.SequenceNode || i >= len(list.Content) {
		return 0
	}
	rules := mapValue(list.Content[i], "match")
	if rules == nil {
		return 0
	}
	if rules.Kind != yaml.SequenceNode {
		return rules.Line // a single rule written as a mapping
	}
	if j >= len(rules.Content) {
		return 0
	}
	return rules.Content[j].Line
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			return n.Content[k+1]
		}
	}
	return nil
}
