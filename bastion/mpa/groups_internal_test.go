package mpa

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func groupsOf(m map[string][]string) func(user, group string) bool {
	return func(user, group string) bool { return slices.Contains(m[user], group) }
}

// A greedy assignment in vote order fails where a matching succeeds:
// alice (in both groups) voted first and would take storage, leaving
// security to nobody, though alice-security, bob-storage meets both.
func TestMatchNotGreedy(t *testing.T) {
	s := New(nil, Options{InGroup: groupsOf(map[string][]string{
		"alice": {"storage", "security"}, "bob": {"storage"},
	})})
	g := GroupRule{Lines: []GroupLine{{"storage", 1}, {"security", 1}}}
	by := s.match(g, []string{"alice", "bob"})
	if !slices.Equal(by[0], []string{"bob"}) || !slices.Equal(by[1], []string{"alice"}) {
		t.Fatalf("match = %v; want storage: bob, security: alice", by)
	}
	// One person in both groups fills one line only.
	by = s.match(g, []string{"alice"})
	if filled(by) != 1 {
		t.Fatalf("alice alone filled %d slots (%v); want 1", filled(by), by)
	}
}

// The matching fills as many slots as the best assignment found by trying
// every one, on random small rules, groups and voters.
func TestMatchIsMaximum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := []string{"a", "b", "c"}
	for iter := range 2000 {
		member := map[string][]string{}
		voters := make([]string, rng.IntN(5))
		for i := range voters {
			voters[i] = string(rune('p' + i))
			for _, g := range groups {
				if rng.IntN(2) == 0 {
					member[voters[i]] = append(member[voters[i]], g)
				}
			}
		}
		var rule GroupRule
		for _, g := range groups[:1+rng.IntN(len(groups))] {
			rule.Lines = append(rule.Lines, GroupLine{Group: g, Count: 1 + rng.IntN(2)})
		}
		s := New(nil, Options{InGroup: groupsOf(member)})
		by := s.match(rule, voters)
		// Every assignment is valid: members only, each voter once, no
		// line over its count.
		used := map[string]bool{}
		for i, l := range rule.Lines {
			if len(by[i]) > l.Count {
				t.Fatalf("iter %d: line %v over its count: %v", iter, l, by[i])
			}
			for _, v := range by[i] {
				if used[v] || !slices.Contains(member[v], l.Group) {
					t.Fatalf("iter %d: %s given to %v twice or outside the group (%v)", iter, v, l, member)
				}
				used[v] = true
			}
		}
		if got, want := filled(by), bruteBest(rule, voters, member, 0, map[int]int{}); got != want {
			t.Fatalf("iter %d: rule %v voters %v groups %v: matching filled %d, best is %d", iter, rule, voters, member, got, want)
		}
	}
}

// bruteBest tries every line (or none) for each voter from i on.
func bruteBest(g GroupRule, voters []string, member map[string][]string, i int, used map[int]int) int {
	if i == len(voters) {
		n := 0
		for _, c := range used {
			n += c
		}
		return n
	}
	best := bruteBest(g, voters, member, i+1, used)
	for li, l := range g.Lines {
		if used[li] < l.Count && slices.Contains(member[voters[i]], l.Group) {
			used[li]++
			best = max(best, bruteBest(g, voters, member, i+1, used))
			used[li]--
		}
	}
	return best
}

// The plain quorum joins the rules as a line for any approver when it
// asks for more people than any rule, and not otherwise.
func TestRulesPlainQuorum(t *testing.T) {
	two := []GroupRule{{Action: "x", Lines: []GroupLine{{"a", 1}, {"b", 1}}}}
	for _, tt := range []struct {
		r    Request
		want int
	}{
		{Request{RequiredApprovals: 2}, 1},
		{Request{RequiredApprovals: 2, Rules: two}, 1},
		{Request{RequiredApprovals: 3, Rules: two}, 2},
	} {
		if got := rules(&tt.r); len(got) != tt.want {
			t.Errorf("rules(required %d, %d rules) = %v; want %d rules", tt.r.RequiredApprovals, len(tt.r.Rules), got, tt.want)
		}
	}
}
