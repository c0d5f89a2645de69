package mpa

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GroupLine is one line of an approvers rule: Count distinct approvers
// from Group. Group "" stands for any approver (the request's plain
// quorum; see Service.rules).
type GroupLine struct {
	Group string `json:"group"`
	Count int    `json:"count"`
}

// GroupRule is the approvers rule of one action of a request: every line
// must be met, and one person fills at most one line of it, even if in
// several of its groups. Each rule of a request is met on its own: one
// person may fill a line of each.
type GroupRule struct {
	Action string      `json:"action"`
	Lines  []GroupLine `json:"lines"`
}

// Bounds on the rules a request may carry (the policy's are lower): every
// vote runs a matching over them.
const (
	maxRules     = 64
	maxRuleLines = 16
	maxLineCount = 64
)

// checkRules refuses rules out of bounds or malformed.
func checkRules(rules []GroupRule) error {
	if len(rules) > maxRules {
		return fmt.Errorf("%d approvers rules, over %d: %w", len(rules), maxRules, ErrInvalid)
	}
	for _, r := range rules {
		if len(r.Lines) == 0 || len(r.Lines) > maxRuleLines {
			return fmt.Errorf("approvers rule of %s has %d lines (want 1 to %d): %w", r.Action, len(r.Lines), maxRuleLines, ErrInvalid)
		}
		for _, l := range r.Lines {
			if l.Group == "" || l.Count < 1 || l.Count > maxLineCount {
				return fmt.Errorf("approvers rule of %s: line %q count %d: %w", r.Action, l.Group, l.Count, ErrInvalid)
			}
		}
	}
	return nil
}

func cloneRules(rules []GroupRule) []GroupRule {
	out := slices.Clone(rules)
	for i := range out {
		out[i].Lines = slices.Clone(out[i].Lines)
	}
	return out
}

// LineState is how far one line of a rule is met.
type LineState struct {
	Action string   `json:"action,omitempty"` // "" for the plain quorum
	Group  string   `json:"group,omitempty"`  // "" for any approver
	Count  int      `json:"count"`
	By     []string `json:"by,omitempty"` // the approvers the matching gave it
}

// Met reports whether the line has its count.
func (l LineState) Met() bool { return len(l.By) >= l.Count }

// String reads "storage 1/1 (carol)" or "any approver 0/2".
func (l LineState) String() string {
	g := l.Group
	if g == "" {
		g = "any approver"
	}
	if l.Action != "" {
		g = l.Action + ": " + g
	}
	s := fmt.Sprintf("%s %d/%d", g, min(len(l.By), l.Count), l.Count)
	if len(l.By) > 0 {
		s += " (" + strings.Join(l.By, ", ") + ")"
	}
	return s
}

// rules returns the rules r must meet: its approvers rules and, when its
// quorum asks more people than any of them (or it has none), the plain
// quorum as a rule of one line for any approver.
func rules(r *Request) []GroupRule {
	most := 0
	for _, g := range r.Rules {
		n := 0
		for _, l := range g.Lines {
			n += l.Count
		}
		most = max(most, n)
	}
	out := r.Rules
	if len(r.Rules) == 0 || r.RequiredApprovals > most {
		out = append(slices.Clip(out), GroupRule{Lines: []GroupLine{{Count: r.RequiredApprovals}}})
	}
	return out
}

// inGroup reports whether user fills line l by the groups in force.
func (s *Service) fills(user string, l GroupLine) bool {
	return l.Group == "" || s.inGroup(user, l.Group)
}

// match assigns voters to the lines of rule g so that as many of its
// slots as possible are filled, each voter at most once: a bipartite
// matching by augmenting paths (Kuhn's algorithm). A greedy pass is not
// enough: with lines storage and security and voters alice (storage and
// security) and bob (storage only), giving alice to storage first leaves
// security empty though alice-security, bob-storage meets both.
// It returns the voters given to each line.
func (s *Service) match(g GroupRule, voters []string) [][]string {
	// slots: one per unit of count; slotLine maps a slot to its line.
	var slotLine []int
	for i, l := range g.Lines {
		for range min(l.Count, len(voters)) {
			slotLine = append(slotLine, i)
		}
	}
	can := make([][]int, len(voters)) // voter -> slots they may fill
	for v, u := range voters {
		for k, li := range slotLine {
			if s.fills(u, g.Lines[li]) {
				can[v] = append(can[v], k)
			}
		}
	}
	owner := make([]int, len(slotLine)) // slot -> voter, -1 empty
	for k := range owner {
		owner[k] = -1
	}
	var seen []bool
	var augment func(v int) bool
	augment = func(v int) bool {
		for _, k := range can[v] {
			if seen[k] {
				continue
			}
			seen[k] = true
			if owner[k] < 0 || augment(owner[k]) {
				owner[k] = v
				return true
			}
		}
		return false
	}
	for v := range voters {
		seen = make([]bool, len(slotLine))
		augment(v)
	}
	out := make([][]string, len(g.Lines))
	for k, v := range owner {
		if v >= 0 {
			out[slotLine[k]] = append(out[slotLine[k]], voters[v])
		}
	}
	return out
}

// countingVoters are the approvers of r whose votes count now: their
// valid-before has not passed, they still hold the approver role for r's
// actions, and they are not its requester.
func (s *Service) countingVoters(r *Request, now time.Time) []string {
	var out []string
	for _, v := range r.Approvals {
		if v.Approver != r.Requester && (v.ValidBefore.IsZero() || now.Before(v.ValidBefore)) &&
			s.canApprove(v.Approver, r.Actions) {
			out = append(out, v.Approver)
		}
	}
	return out
}

// lineStates matches voters against every rule of r and reports each line.
func (s *Service) lineStates(r *Request, voters []string) []LineState {
	var out []LineState
	for _, g := range rules(r) {
		by := s.match(g, voters)
		for i, l := range g.Lines {
			out = append(out, LineState{Action: g.Action, Group: l.Group, Count: l.Count, By: by[i]})
		}
	}
	return out
}

// quorumMet reports whether r's counting votes meet every rule, with the
// line states that say why.
func (s *Service) quorumMet(r *Request, now time.Time) (bool, []LineState) {
	lines := s.lineStates(r, s.countingVoters(r, now))
	for _, l := range lines {
		if !l.Met() {
			return false, lines
		}
	}
	return true, lines
}

// unmet returns the lines of ls not met, as text.
func unmet(ls []LineState) []string {
	var out []string
	for _, l := range ls {
		if !l.Met() {
			out = append(out, l.String())
		}
	}
	return out
}

// mayFill reports whether user can fill some line of r's rules at all:
// who is in none of the groups a request needs has no vote on it.
func (s *Service) mayFill(r *Request, user string) bool {
	for _, g := range rules(r) {
		for _, l := range g.Lines {
			if s.fills(user, l) {
				return true
			}
		}
	}
	return false
}

// helps reports whether a vote by user now would fill a line of r not yet
// met: what an approver's queue marks.
func (s *Service) helps(r *Request, user string, now time.Time) bool {
	if user == r.Requester || r.voted(user) || !s.canApprove(user, r.Actions) {
		return false
	}
	voters := s.countingVoters(r, now)
	with := append(slices.Clip(voters), user)
	for _, g := range rules(r) {
		if filled(s.match(g, with)) > filled(s.match(g, voters)) {
			return true
		}
	}
	return false
}

func filled(by [][]string) int {
	n := 0
	for _, b := range by {
		n += len(b)
	}
	return n
}

// Progress is where a request stands against its approvers rules.
type Progress struct {
	// Lines are the request's lines: its approvers rules and its plain
	// quorum (Group ""), each with the approvers the matching gave it.
	Lines []LineState `json:"lines"`
	// CanHelp are the registered approvers whose vote now would fill a
	// line not yet met.
	CanHelp []string `json:"can_help,omitempty"`
}

// Met reports whether every line is met.
func (p Progress) Met() bool {
	for _, l := range p.Lines {
		if !l.Met() {
			return false
		}
	}
	return true
}

// Progress reports r's lines by the votes and groups in force now, and
// who can still help it.
func (s *Service) Progress(ctx context.Context, r Request) (Progress, error) {
	now := s.clock()
	p := Progress{Lines: s.lineStates(&r, s.countingVoters(&r, now))}
	if r.Status != StatusPending {
		return p, nil
	}
	as, err := s.Approvers(ctx)
	if err != nil {
		return p, fmt.Errorf("progress of %s: %w", r.ID, err)
	}
	for _, a := range as {
		if a.Status == Registered && s.helps(&r, a.Name, now) {
			p.CanHelp = append(p.CanHelp, a.Name)
		}
	}
	return p, nil
}

// CanHelp reports whether user's vote now would fill a line of the pending
// request r not yet met.
func (s *Service) CanHelp(r Request, user string) bool {
	return r.Status == StatusPending && s.helps(&r, user, s.clock())
}

// GroupShortfall returns the lines of rules that could not be met even if
// every registered approver allowed to approve actions, other than
// requester, voted: a request with such a line could never be approved.
// Only the approvers rules are checked; the plain quorum is the caller's.
func (s *Service) GroupShortfall(ctx context.Context, requester string, actions []ActionRef, gr []GroupRule) ([]string, error) {
	if len(gr) == 0 {
		return nil, nil
	}
	as, err := s.Approvers(ctx)
	if err != nil {
		return nil, fmt.Errorf("group shortfall: %w", err)
	}
	var voters []string
	for _, a := range as {
		if a.Status == Registered && a.Name != requester && s.canApprove(a.Name, actions) {
			voters = append(voters, a.Name)
		}
	}
	var lines []LineState
	for _, g := range gr {
		by := s.match(g, voters)
		for i, l := range g.Lines {
			lines = append(lines, LineState{Action: g.Action, Group: l.Group, Count: l.Count, By: by[i]})
		}
	}
	return unmet(lines), nil
}
