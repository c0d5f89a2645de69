package mpacli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/bastion/termsafe"
	"github.com/keyturn/keyturn/policy"
)

// rejected tells the requester who rejected r and why.
func (c *call) rejected(r mpa.Request) int {
	who, why := "an approver", ""
	if n := len(r.Rejections); n > 0 {
		who, why = r.Rejections[n-1].Approver, r.Rejections[n-1].Comment
	}
	c.sayf("%s was rejected by %s: %s; it never runs", r.ID, who, termsafe.String(why))
	return exitcode.Rejected
}

// Lockout is what the gate's config says about wrong codes, for the
// "tries left" in an approver's error. Zero values mean mpa's defaults.
type Lockout struct {
	Threshold int
	Duration  time.Duration
}

func (l Lockout) threshold() int {
	if l.Threshold > 0 {
		return l.Threshold
	}
	return 5
}

func (l Lockout) duration() time.Duration {
	if l.Duration > 0 {
		return l.Duration
	}
	return 5 * time.Minute
}

// sayf prints one sentence for a person: "keyturn: " and the message,
// without the command path and the wrapped error prefixes.
func (c *call) sayf(format string, args ...any) {
	fmt.Fprintf(c.env.Stderr, "keyturn: %s\n", fmt.Sprintf(format, args...))
}

// failVote reports an error from a vote or a registration (who = the
// voter, id = the request, "" for a registration) in one sentence, the
// one [mpawords.Error] gives, with what only the CLI looks up: the tries
// left before a lockout and the request's status now. It returns the
// sentence's exit status.
func (c *call) failVote(err error, who, id string) int {
	if !mpawords.Known(err) {
		return c.fail(err)
	}
	s := mpawords.Subject{Who: who, Request: id, LockFor: c.env.Lockout.duration()}
	switch {
	case errors.Is(err, mpa.ErrBadCode):
		s.TriesLeft = c.triesLeft(who)
	case errors.Is(err, mpa.ErrNotPending):
		if r, gerr := c.env.Service.Get(c.ctx, id); gerr == nil {
			s.Status = r.Status.String()
		}
	}
	sentence, code := mpawords.Error(err, exitcode.Command, s)
	c.sayf("%s", sentence)
	return code
}

// triesLeft says how many more wrong codes who may give before the lock.
func (c *call) triesLeft(who string) string {
	l := c.env.Lockout
	a, err := c.env.Service.Approver(c.ctx, who)
	if err != nil || a.Status != mpa.Registered {
		return "check the code in your authenticator app"
	}
	left := l.threshold() - a.Failures
	if left <= 0 {
		return fmt.Sprintf("locked for %s", l.duration())
	}
	tries := "tries"
	if left == 1 {
		tries = "try"
	}
	return fmt.Sprintf("%d %s left before a %s lock", left, tries, humanDuration(l.duration()))
}

// humanDuration is "5-minute", "1-hour", "90-second": the lock's length as
// an adjective.
func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d-hour", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d-minute", d/time.Minute)
	}
	return fmt.Sprintf("%d-second", d/time.Second)
}

// nextCode says when an approver's next code is accepted after one at
// step was used: codes are 30-second steps, and a used step (or an older
// one) is refused as a replay.
func nextCode(step int64, now time.Time) string {
	at := time.Unix((step+1)*30, 0).UTC()
	wait := at.Sub(now).Round(time.Second)
	if wait <= 0 {
		return "your next code is accepted now"
	}
	return fmt.Sprintf("your next code is accepted from %s (in %s); the one you just used will not work again", at.Format("15:04:05 UTC"), wait)
}

// quotingHint is added when a --comment reached the gate as several words:
// ssh joins its arguments with spaces and the gate splits them again, so
// a comment needs a second pair of quotes.
func quotingHint(comment string, extra []string) string {
	words := append([]string{comment}, extra...)
	return fmt.Sprintf("--comment takes one word after ssh joins the command line; quote it twice: --comment \"'%s'\"", strings.Join(words, " "))
}

// quorumReachable refuses, at once, a request that could never be
// approved: its quorum is more than the registered approvers other than
// the requester. The gate refuses the same way (exit 75: not run).
func (c *call) quorumReachable(d policy.Decision) (int, bool) {
	as, err := c.env.Service.Approvers(c.ctx)
	if err != nil {
		return c.fail(err), false
	}
	n := 0
	for _, a := range as {
		if a.Status == mpa.Registered && a.Name != c.env.User {
			n++
		}
	}
	names := make([]string, len(d.Actions))
	for i, a := range d.Actions {
		names[i] = a.Name
	}
	if n >= d.Quorum {
		short, err := c.env.Service.GroupShortfall(c.ctx, c.env.User, mpawords.Actions(d.Actions), mpawords.Rules(d.Approvers))
		if err != nil {
			return c.fail(err), false
		}
		if len(short) == 0 {
			return exitcode.OK, true
		}
		c.sayf("%s needs approvers from groups without enough registered approvers other than %s (%s), so it could never be approved; no request was made",
			strings.Join(names, ", "), c.env.User, strings.Join(short, "; "))
		return exitcode.Pending, false
	}
	approvers := fmt.Sprintf("%d approvers other than %s are", n, c.env.User)
	if n == 1 {
		approvers = fmt.Sprintf("1 approver other than %s is", c.env.User)
	}
	c.sayf("%s needs %d approvals but only %s registered, so it could never be approved; no request was made",
		strings.Join(names, ", "), d.Quorum, approvers)
	return exitcode.Pending, false
}
