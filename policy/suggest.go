package policy

import (
	"fmt"
	"sort"
	"strings"
)

// fieldSynonyms map words a policy author reaches for to the field
// policies.yaml calls that. They are matched with typos too, so "quorom"
// finds "required_approvals" by way of "quorum".
var fieldSynonyms = map[string]string{
	"quorum":          "required_approvals",
	"approvals":       "required_approvals",
	"approvers":       "required_approvals",
	"required":        "required_approvals",
	"min_approvals":   "required_approvals",
	"desc":            "description",
	"summary":         "description",
	"matches":         "match",
	"rules":           "match",
	"cmd":             "command",
	"commands":        "command",
	"argv":            "args",
	"arguments":       "args",
	"hosts":           "targets",
	"target":          "targets",
	"ttl":             "pending_ttl",
	"expiry":          "pending_ttl",
	"expires":         "pending_ttl",
	"reason_required": "reason",
	"require_reason":  "reason",
}

// suggestField returns "; did you mean %q?" naming the field in known
// that the unknown field got most likely meant, or "".
func suggestField(got string, known []string) string {
	return SuggestName(got, known, fieldSynonyms)
}

// SuggestName returns "; did you mean %q?" naming the name in known that
// got most likely meant, or "" when nothing is close: a wrong hint is worse
// than none. synonyms map words people reach for to the name they mean;
// they are matched with typos too. keyturn.yaml's errors use it as well.
func SuggestName(got string, known []string, synonyms map[string]string) string {
	candidates := make(map[string]string, len(known)+len(synonyms))
	for _, k := range known {
		candidates[k] = k
	}
	for word, field := range synonyms {
		if _, ok := candidates[word]; ok {
			continue // a field of its own here (approvers), not a synonym
		}
		for _, k := range known {
			if k == field {
				candidates[word] = field
			}
		}
	}
	words := make([]string, 0, len(candidates))
	for w := range candidates {
		words = append(words, w)
	}
	sort.Strings(words) // ties go the same way every time
	lower := strings.ToLower(got)
	best, bestD := "", -1
	for _, w := range words {
		if d := editDistance(lower, w); bestD < 0 || d < bestD {
			best, bestD = w, d
		}
	}
	// Up to a third of the word (1 to 3 edits) is a typo; more is
	// another word.
	if best == "" || bestD > min(max(len(got)/3, 1), 3) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", candidates[best])
}

// editDistance is the Damerau-Levenshtein distance (an adjacent swap is
// one edit) between a and b, in bytes: field names are ASCII.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
