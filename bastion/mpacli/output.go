package mpacli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/bastion/termsafe"
	"github.com/keyturn/keyturn/policy"
)

// writeJSON prints v indented, with a final newline. HTML escaping is off
// so command lines with < > & read as typed.
func (c *call) writeJSON(v any) int {
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		c.errorf("encode json: %v", err)
		return exitcode.Failure
	}
	return exitcode.OK
}

// table returns a tabwriter for aligned columns; the caller flushes it.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// fmtTime prints t in UTC, or "-" when unset.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtDeadline prints t and how far it is from now, which is what a person
// deciding whether to approve wants to know.
func fmtDeadline(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return fmt.Sprintf("%s (%s ago)", fmtTime(t), -d)
	}
	return fmt.Sprintf("%s (in %s)", fmtTime(t), d)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describe is the one-line "what" of a request: its command, or what a
// request on keyturn itself does.
// describe is a request's one-line summary. The command line is the
// requester's text, so it is escaped (termsafe) like everything else a
// requester writes that an approver reads.
func describe(r mpa.Request) string {
	if r.Kind == mpa.KindCommand || r.Kind == "" {
		return termsafe.String(r.Command)
	}
	s := string(r.Kind)
	var p struct {
		Approver string `json:"approver"`
	}
	if r.Kind == mpa.KindRegisterApprover && json.Unmarshal(r.Payload, &p) == nil && p.Approver != "" {
		s += " " + p.Approver
	}
	return s
}

func actionNames(as []mpa.ActionRef) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Service + "/" + a.Name
	}
	return strings.Join(names, ", ")
}

// writeRequest prints one request, field per line, as `isi mpa requests
// view` does.
func writeRequest(w io.Writer, r mpa.Request, now time.Time) {
	tw := table(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", r.ID)
	row("status", r.Status.String())
	row("kind", string(r.Kind))
	row("actions", dash(actionNames(r.Actions)))
	if r.Target != "" {
		row("target", r.Target)
	}
	row("command", dash(describe(r)))
	if r.PTY {
		row("terminal", "yes: runs with a terminal, as if interactive")
	}
	if r.Kind == mpa.KindUpdatePolicy {
		// Approvers approve the change itself: show the diff the gate
		// recorded, line by line.
		row("why", "this change to policies.yaml:")
		for _, line := range strings.Split(strings.TrimRight(r.Command, "\n"), "\n") {
			fmt.Fprintf(tw, "    %s\n", termsafe.String(line))
		}
		if sum := policySum(r.Payload); sum != "" {
			row("new policy", "sha256 "+sum)
		}
	}
	row("requester", r.Requester)
	if r.RequesterCert != "" {
		row("requester cert", termsafe.String(r.RequesterCert))
	}
	row("reason", dash(termsafe.String(r.Reason)))
	row("created", fmtTime(r.Created))
	row("updated", fmtTime(r.Updated))
	row("approvals", fmt.Sprintf("%d of %d", len(r.Approvals), r.RequiredApprovals))
	if !r.Status.Final() {
		row("expires", fmtDeadline(r.ExpiresAt, now))
	}
	for _, line := range whyLines(r.Why) {
		row("why", line)
	}
	for _, v := range r.Approvals {
		row("approved by", vote(v))
	}
	for _, v := range r.Rejections {
		row("rejected by", vote(v))
	}
	if x := r.Execution; x != nil {
		row("started", fmtTime(x.Start))
		row("ended", fmtTime(x.End))
		if r.Status == mpa.StatusInterrupted {
			row("exit status", "unknown (interrupted)")
		} else {
			row("exit status", fmt.Sprint(x.ExitStatus))
		}
		row("output", fmt.Sprintf("%d bytes, sha256 %s", x.OutputBytes, dash(x.OutputSHA256)))
		if x.Error != "" {
			row("error", termsafe.String(x.Error))
		}
	}
	tw.Flush()
}

// whyLines shows a request's why in words, a line per match as
// [mpawords.MatchLine] renders it. Byte offsets and rule paths
// (actions[0].match[0]) stay in --json and the audit record. A why that
// is not a list of policy matches is shown as stored.
func whyLines(why json.RawMessage) []string {
	if len(why) == 0 {
		return nil
	}
	var ms []policy.Match
	if err := json.Unmarshal(why, &ms); err != nil || len(ms) == 0 {
		return []string{termsafe.String(string(why))}
	}
	lines := make([]string, 0, len(ms))
	for _, m := range ms {
		lines = append(lines, mpawords.MatchLine(m, ""))
	}
	return lines
}

// decisionWords is decision d on line for a person, as the gate says it
// ([mpawords.Explain]): the verdict with the actions, then each match.
// The quorum is said once, by the caller.
func (c *call) decisionWords(line string, d policy.Decision) string {
	descs := map[string]string{}
	if c.env.Policy != nil {
		for _, a := range c.env.Policy.Actions() {
			descs[a.Name] = a.Description
		}
	}
	return strings.Join(mpawords.Explain(line, d, descs, nil), "\n")
}

// policySum is the new policy's SHA-256 from an update_policy payload.
func policySum(payload json.RawMessage) string {
	var p struct {
		SHA256 string `json:"sha256"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	return termsafe.String(p.SHA256)
}

func vote(v mpa.Vote) string {
	s := termsafe.String(v.Approver) + " at " + fmtTime(v.At)
	if !v.ValidBefore.IsZero() {
		s += ", valid before " + fmtTime(v.ValidBefore)
	}
	if v.Comment != "" {
		s += fmt.Sprintf(": %q", v.Comment)
	}
	return s
}

// statusNames lists the valid --status values for help text.
func statusNames() string {
	var names []string
	for _, s := range mpa.Statuses() {
		names = append(names, s.String())
	}
	return strings.Join(names, ", ")
}
