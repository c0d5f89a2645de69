package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Verdict is what the gate does with a command line.
type Verdict int

// The verdicts run from the strictest up, so the zero Verdict is Deny: a
// Decision nobody filled in refuses rather than runs. A value outside these
// three is treated as Deny wherever a verdict is read.
const (
	Deny Verdict = iota
	Hold
	Allow
)

// stricter returns the stricter of two verdicts.
func stricter(a, b Verdict) Verdict { return min(a, b) }

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Hold:
		return "hold"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// MarshalText writes the verdict's word.
func (v Verdict) MarshalText() ([]byte, error) {
	switch v {
	case Allow, Hold, Deny:
		return []byte(v.String()), nil
	}
	return nil, fmt.Errorf("policy: unknown verdict %d", int(v))
}

// UnmarshalText reads "allow", "hold" or "deny".
func (v *Verdict) UnmarshalText(b []byte) error {
	switch string(b) {
	case "allow":
		*v = Allow
	case "hold":
		*v = Hold
	case "deny":
		*v = Deny
	default:
		return fmt.Errorf("policy: unknown verdict %q (want allow, hold or deny)", b)
	}
	return nil
}

// ActionRef names a privileged action.
type ActionRef struct {
	Name    string `json:"name"`
	Service string `json:"service"`
}

// The synthetic actions a decision carries when no policy action explains it.
var (
	UnresolvedAction  = ActionRef{Name: "unresolved_command", Service: "shell"}
	InteractiveAction = ActionRef{Name: "interactive_shell", Service: "shell"}
)

// Word is a word of the command line as the matcher saw it. Offset and End are
// byte offsets into [Input.Command]; for a word found inside a string that is
// run again (sh -c, ssh HOST CMD) they point at the part of the outer line it
// came from.
type Word struct {
	Text   string `json:"text"`
	Offset int    `json:"offset"`
	End    int    `json:"end"`
}

// Match explains one reason for a decision.
type Match struct {
	Action string `json:"action"`
	Rule   string `json:"rule,omitempty"`
	Words  []Word `json:"words,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Decision is the outcome of [Policy.Decide]. It is plain data so the gate can
// log it, show it and store it with a request.
type Decision struct {
	Verdict        Verdict       `json:"verdict"`
	Actions        []ActionRef   `json:"actions"`
	Quorum         int           `json:"quorum"`
	PendingTTL     time.Duration `json:"pending_ttl"`
	ApprovalTTL    time.Duration `json:"approval_ttl"`
	ReasonRequired bool          `json:"reason_required"`
	Why            []Match       `json:"why"`
	// Approvers are the approvers rules of the actions that have one;
	// every rule must be met (see ApproverRule).
	Approvers []ApproverRule `json:"approvers,omitempty"`
}

// decisionJSON spells durations as "168h0m0s" rather than nanoseconds, so a
// person reading the log or the CLI output can read them.
type decisionJSON struct {
	Verdict        Verdict     `json:"verdict"`
	Actions        []ActionRef `json:"actions"`
	Quorum         int         `json:"quorum"`
	PendingTTL     string      `json:"pending_ttl"`
	ApprovalTTL    string      `json:"approval_ttl"`
	ReasonRequired bool        `json:"reason_required"`
	Why            []Match     `json:"why"`

	Approvers []ApproverRule `json:"approvers,omitempty"`
}

// MarshalJSON writes the decision with durations in time.Duration's text form.
func (d Decision) MarshalJSON() ([]byte, error) {
	j := decisionJSON{
		Verdict: d.Verdict, Actions: d.Actions, Quorum: d.Quorum,
		PendingTTL: d.PendingTTL.String(), ApprovalTTL: d.ApprovalTTL.String(),
		ReasonRequired: d.ReasonRequired, Why: d.Why, Approvers: d.Approvers,
	}
	if j.Actions == nil {
		j.Actions = []ActionRef{}
	}
	if j.Why == nil {
		j.Why = []Match{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (d *Decision) UnmarshalJSON(b []byte) error {
	var j decisionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	pending, err := parseDurationOrZero(j.PendingTTL)
	if err != nil {
		return fmt.Errorf("pending_ttl: %w", err)
	}
	approval, err := parseDurationOrZero(j.ApprovalTTL)
	if err != nil {
		return fmt.Errorf("approval_ttl: %w", err)
	}
	*d = Decision{
		Verdict: j.Verdict, Actions: j.Actions, Quorum: j.Quorum,
		PendingTTL: pending, ApprovalTTL: approval,
		ReasonRequired: j.ReasonRequired, Why: j.Why, Approvers: j.Approvers,
	}
	return nil
}

func parseDurationOrZero(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// Message is the short text shown to the person who sent the command line:
// the verdict, the actions and the words that decided it.
func (d Decision) Message() string {
	var b strings.Builder
	switch d.Verdict {
	case Allow:
		b.WriteString("allowed")
	case Hold:
		fmt.Fprintf(&b, "held for approval (%d approval", d.Quorum)
		if d.Quorum != 1 {
			b.WriteString("s")
		}
		b.WriteString(" needed")
		if d.ReasonRequired {
			b.WriteString(", reason required")
		}
		b.WriteString(")")
	case Deny:
		b.WriteString("denied")
	default:
		b.WriteString(d.Verdict.String())
	}
	if len(d.Actions) > 0 {
		b.WriteString(": ")
		for i, a := range d.Actions {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Name)
		}
	}
	for _, m := range d.Why {
		b.WriteString("\n  ")
		b.WriteString(m.Action)
		for _, w := range m.Words {
			fmt.Fprintf(&b, " %q@%d-%d", w.Text, w.Offset, w.End)
		}
		if m.Rule != "" {
			fmt.Fprintf(&b, " [%s]", m.Rule)
		}
		if m.Note != "" {
			b.WriteString(" (")
			b.WriteString(m.Note)
			b.WriteString(")")
		}
	}
	return b.String()
}
