package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// Notification is the JSON body of a webhook POST.
type Notification struct {
	// ID is unique per notification and the same on every attempt to
	// deliver it (also sent as X-Keyturn-Delivery), so that a receiver
	// can drop a retry it already has.
	ID string `json:"id"`
	// Event is one of config.WebhookEvents: request.created, ...
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	// Text is a one-line summary for a chat channel; the command in it is
	// shortened and its control characters escaped.
	Text      string   `json:"text"`
	Request   string   `json:"request"`
	Kind      string   `json:"kind"`
	Actions   []string `json:"actions"`
	Target    string   `json:"target,omitempty"`
	Command   string   `json:"command,omitempty"`
	Requester string   `json:"requester"`
	Reason    string   `json:"reason,omitempty"`
	Status    string   `json:"status"`

	RequiredApprovals int       `json:"required_approvals"`
	Approvers         []string  `json:"approvers"`
	RejectedBy        []string  `json:"rejected_by,omitempty"`
	Comment           string    `json:"comment,omitempty"` // the rejection's
	ExpiresAt         time.Time `json:"expires_at,omitzero"`

	// Set once a released command ended.
	ExitStatus *int   `json:"exit_status,omitempty"`
	Error      string `json:"error,omitempty"`
	Gate       string `json:"gate,omitempty"` // the gate that ran it
	// OutputBytes is how much the command wrote, and OutputHead its
	// first lines (at most 10 and 2 KiB, control characters escaped);
	// for request.completed. 'mpa requests output ID' shows the rest.
	OutputBytes *int64 `json:"output_bytes,omitempty"`
	OutputHead  string `json:"output_head,omitempty"`

	// seq is the audit event the notification tells of (0: none), for
	// the webhook mark; not sent.
	seq uint64
	// chain is the audit chain of that event.
	chain string
}

// notification describes r as it stands after event.
func notification(event string, r *mpa.Request) Notification {
	n := Notification{
		Event:             event,
		Time:              r.Updated,
		Request:           r.ID,
		Kind:              string(r.Kind),
		Actions:           make([]string, len(r.Actions)),
		Target:            r.Target,
		Command:           r.Command,
		Requester:         r.Requester,
		Reason:            r.Reason,
		Status:            r.Status.String(),
		RequiredApprovals: r.RequiredApprovals,
		Approvers:         make([]string, 0, len(r.Approvals)),
		ExpiresAt:         r.ExpiresAt,
	}
	for i, a := range r.Actions {
		n.Actions[i] = a.Name
	}
	for _, v := range r.Approvals {
		n.Approvers = append(n.Approvers, v.Approver)
	}
	for _, v := range r.Rejections {
		n.RejectedBy = append(n.RejectedBy, v.Approver)
		n.Comment = v.Comment
	}
	if x := r.Execution; x != nil && !x.End.IsZero() {
		if r.Status != mpa.StatusInterrupted { // an interrupted run has no exit status
			status := x.ExitStatus
			n.ExitStatus = &status
		}
		n.Error = x.Error
		n.Gate = x.Node
		if event == audit.KindRequestCompleted {
			size := x.OutputBytes
			n.OutputBytes, n.OutputHead = &size, x.OutputHead
		}
	}
	n.Text = text(&n)
	return n
}

// text is the chat line: who wants what where, and what just happened.
func text(n *Notification) string {
	what := strings.Join(n.Actions, ", ")
	if what == "" {
		what = n.Kind
	}
	if n.Target != "" {
		what += " on " + n.Target
	}
	cmd := ""
	if n.Command != "" {
		cmd = " `" + shorten(n.Command, 120) + "`"
	}
	switch n.Event {
	case audit.KindRequestCreated:
		s := fmt.Sprintf("keyturn: %s requests %s:%s (%s, needs %d approval%s", n.Requester, what, cmd, n.Request, n.RequiredApprovals, plural(n.RequiredApprovals))
		if !n.ExpiresAt.IsZero() {
			s += ", expires " + n.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		s += ")"
		if n.Reason != "" {
			s += " reason: " + shorten(n.Reason, 200)
		}
		return s
	case audit.KindRequestApproved:
		return fmt.Sprintf("keyturn: %s approved by %s: %s may now run %s:%s", n.Request, names(n.Approvers), n.Requester, what, cmd)
	case audit.KindRequestRejected:
		s := fmt.Sprintf("keyturn: %s rejected by %s: %s's %s:%s", n.Request, names(n.RejectedBy), n.Requester, what, cmd)
		if n.Comment != "" {
			s += " (" + shorten(n.Comment, 200) + ")"
		}
		return s
	case audit.KindRequestCancelled:
		return fmt.Sprintf("keyturn: %s cancelled by %s: %s:%s", n.Request, n.Requester, what, cmd)
	case audit.KindRequestExpired:
		return fmt.Sprintf("keyturn: %s expired before it ran: %s's %s:%s", n.Request, n.Requester, what, cmd)
	case audit.KindRequestCompleted:
		if n.ExitStatus == nil {
			return fmt.Sprintf("keyturn: %s applied: %s by %s, approved by %s", n.Request, what, n.Requester, names(n.Approvers))
		}
		s := fmt.Sprintf("keyturn: %s ran: %s's %s:%s exited %d (approved by %s)", n.Request, n.Requester, what, cmd, *n.ExitStatus, names(n.Approvers))
		if n.Error != "" {
			s += "; error: " + shorten(n.Error, 200)
		}
		return s
	case audit.KindRequestInterrupted:
		why := "the gate stopped"
		if n.Error != "" {
			why = shorten(n.Error, 200)
		}
		return fmt.Sprintf("keyturn: %s interrupted (outcome unknown): %s while %s's %s ran:%s; it will not be run again", n.Request, why, n.Requester, what, cmd)
	}
	return fmt.Sprintf("keyturn: %s %s", n.Request, n.Status)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// names joins names as "bob", "bob and carol", "bob, carol and dave".
func names(ns []string) string {
	switch len(ns) {
	case 0:
		return "nobody"
	case 1:
		return ns[0]
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " and " + ns[len(ns)-1]
}

// shorten escapes what a chat client would render or hide (control and
// bidi characters, backquotes that would end the code span) and cuts s
// to max runes, so a requester cannot make a notification read other
// than what will run.
func shorten(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '`':
			b.WriteString("'")
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r),
			unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
