package mpawords

import (
	"strconv"
	"strings"

	"github.com/keyturn/keyturn/bastion/termsafe"
	"github.com/keyturn/keyturn/policy"
)

// Explain renders decision d on command for the person who sent it or
// decides it, one line per entry, without a "keyturn:" prefix: the
// verdict with its actions, then each match (see [MatchLines]).
//
// descs gives an action's description by name and at where a rule stands
// ("policies.yaml line 6"); either may be nil.
func Explain(command string, d policy.Decision, descs map[string]string, at func(rule string) string) []string {
	return append([]string{Verdict(d, descs)}, MatchLines(command, d.Why, at)...)
}

// Verdict is the decision's first line: "held for approval: kill_process
// (stop or signal a process)", "denied: wipe_root", "allowed".
func Verdict(d policy.Decision, descs map[string]string) string {
	switch d.Verdict {
	case policy.Allow:
		return "allowed"
	case policy.Hold:
		return "held for approval: " + actionList(d.Actions, descs)
	case policy.Deny:
		return "denied: " + actionList(d.Actions, descs)
	}
	return termsafe.String(d.Verdict.String())
}

// MatchLines renders each match, indented by two spaces: the line of
// [MatchLine], then, when command is one printable line, the command with
// the matched words underlined beneath it (so the words are not repeated
// in the match's own line).
func MatchLines(command string, ms []policy.Match, at func(rule string) string) []string {
	underlined := !strings.Contains(command, "\n") && termsafe.String(command) == command
	var lines []string
	for _, m := range ms {
		where := ""
		if at != nil {
			where = at(m.Rule)
		}
		if !underlined || len(m.Words) == 0 {
			lines = append(lines, "  "+MatchLine(m, where))
			continue
		}
		words := m.Words
		m.Words = nil
		lines = append(lines, "  "+MatchLine(m, where), "    "+command, "    "+Underline(command, words))
	}
	return lines
}

// MatchLine is one match in one line, for a person: the action, where its
// rule stands (if where is not ""), the words of the line that matched
// and the matcher's note:
//
//	kill_process (policies.yaml line 6): matched "kill", "-9" (via sudo)
//
// Words are quoted and everything is made safe for a terminal.
func MatchLine(m policy.Match, where string) string {
	var b strings.Builder
	b.WriteString(m.Action)
	if where != "" {
		b.WriteString(" (" + where + ")")
	}
	switch {
	case len(m.Words) > 0:
		words := make([]string, len(m.Words))
		for i, w := range m.Words {
			words[i] = strconv.Quote(w.Text)
		}
		b.WriteString(": matched " + strings.Join(words, ", "))
		if m.Note != "" {
			b.WriteString(" (" + m.Note + ")")
		}
	case m.Note != "":
		b.WriteString(": " + m.Note)
	}
	return termsafe.String(b.String())
}

// Underline marks the bytes of words in command with '^', for the line
// under the command.
func Underline(command string, words []policy.Word) string {
	marks := []byte(strings.Repeat(" ", len(command)))
	for _, w := range words {
		for i := max(w.Offset, 0); i < w.End && i < len(marks); i++ {
			marks[i] = '^'
		}
	}
	return strings.TrimRight(string(marks), " ")
}

// actionList names actions with their descriptions: "kill_process (stop
// or signal a process)".
func actionList(refs []policy.ActionRef, descs map[string]string) string {
	if len(refs) == 0 {
		return "no action named"
	}
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.Name
		if d := strings.TrimSpace(descs[r.Name]); d != "" {
			parts[i] += " (" + d + ")"
		}
	}
	return termsafe.String(strings.Join(parts, ", "))
}
