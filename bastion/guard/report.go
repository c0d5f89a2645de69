package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyturn/keyturn/bastion/exitcode"
)

// Exit statuses of keyturn-guard besides the line's own. A line can exit
// with any status itself, so the gate treats ExitBlocked and ExitDenied as
// the guard's only together with a report line on stderr (see [FindReport]).
// The guard maps a line's own exit with one of these to ExitCollided, and
// writes its report after every process of the tree is gone, so the last
// report line with ExitBlocked is the guard's.
//
// The numbers and their meanings are [exitcode]'s (the guard family).
const (
	ExitUsage    = exitcode.GuardUsage
	ExitInternal = exitcode.GuardInternal
	ExitBlocked  = exitcode.GuardBlocked
	ExitDenied   = exitcode.GuardDenied
	ExitGrant    = exitcode.GuardGrant
	ExitCollided = exitcode.GuardCollided
)

// ProbeCommand is what the gate sends to ask whether a target's login is
// the guard; the guard answers ProbeAnswer and runs nothing. Protocol 2 is
// the challenge handshake (package grant); a guard of protocol 1 took the
// token as its command and is refused by require_guard.
//
// Command is the only command the gate executes on a guarded target: the
// guard answers it with a challenge line on stdout and reads the grant (and
// with it the line to run) from stdin, so the token is in no argv.
const (
	ProbeCommand = "keyturn-guard --probe"
	ProbeAnswer  = "keyturn-guard protocol 2"
	Command      = "keyturn-guard-v2"
)

// reportPrefix starts the machine-readable report line.
const reportPrefix = "keyturn-guard-report: "

// maxReportLine bounds the report line the gate reads.
const maxReportLine = 16 << 10

// Report is what the guard observed when it blocked a line.
type Report struct {
	Version int `json:"v"`
	// Deny is set when a deny rule matched; otherwise the line may be
	// approved for Actions.
	Deny bool `json:"deny,omitempty"`
	// Actions are the privileged actions observed and not granted.
	Actions []string `json:"actions"`
	// Observed says what ran and how, e.g. "/usr/bin/kill 4242, started
	// by prlimit, started by bash".
	Observed string `json:"observed"`
}

// Message is the line shown to the admin.
func (r Report) Message() string {
	verb := "blocked"
	if r.Deny {
		verb = "denied"
	}
	return fmt.Sprintf("keyturn-guard: %s %s: %s", verb, strings.Join(r.Actions, ", "), r.Observed)
}

// Write writes the message and the report line.
func (r Report) Write(w io.Writer) error {
	r.Version = 1
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n%s%s\n", r.Message(), reportPrefix, data)
	return err
}

// ParseReport reads one report line (with or without its prefix).
func ParseReport(line string) (*Report, error) {
	line = strings.TrimSuffix(strings.TrimPrefix(line, reportPrefix), "\n")
	if len(line) > maxReportLine {
		return nil, fmt.Errorf("guard report: over %d bytes", maxReportLine)
	}
	var r Report
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return nil, fmt.Errorf("guard report: %w", err)
	}
	if r.Version != 1 || len(r.Actions) == 0 || len(r.Actions) > 64 {
		return nil, fmt.Errorf("guard report: version %d with %d actions", r.Version, len(r.Actions))
	}
	for _, a := range r.Actions {
		if a == "" || strings.ContainsAny(a, " \t\n,") {
			return nil, fmt.Errorf("guard report: action name %q", a)
		}
	}
	slices.Sort(r.Actions)
	r.Actions = slices.Compact(r.Actions)
	return &r, nil
}

// FindReport returns the last report line in the tail of the guard's
// stderr, or nil if there is none. Lines of any length may come before it.
func FindReport(stderr io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(stderr, 4*maxReportLine))
	if err != nil {
		return nil, err
	}
	at := -1
	for from := len(data); ; {
		i := bytes.LastIndex(data[:from], []byte(reportPrefix))
		if i < 0 {
			break
		}
		if i == 0 || data[i-1] == '\n' {
			at = i
			break
		}
		from = i
	}
	if at < 0 {
		return nil, nil
	}
	line := data[at:]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	return ParseReport(string(line))
}
