package config

import (
	"fmt"
	"sort"
	"strings"
)

// synonyms map words people reach for to the field keyturn.yaml calls
// that; the edit distance alone would not find them.
var synonyms = map[string]string{
	"addr":             "address",
	"host":             "address",
	"hostname":         "address",
	"port":             "address",
	"login":            "user",
	"username":         "user",
	"role":             "roles",
	"key":              "keys",
	"pubkeys":          "keys",
	"public_keys":      "keys",
	"hostkeys":         "host_keys",
	"known_hosts_file": "known_hosts",
	"policy":           "policies",
	"policy_file":      "policies",
	"datadir":          "data_dir",
	"data":             "data_dir",
	"dir":              "data_dir",
	"bind":             "listen",
	"listen_address":   "listen",
	"address_listen":   "listen",
	"grace":            "shutdown_grace",
	"threshold":        "lockout_threshold",
	"lockout":          "lockout_threshold",
	"secret":           "secret_file",
	"retries":          "attempts",
	"gate":             "name",
}

// suggestField returns "; did you mean %q?" naming the field of known
// closest to the unknown field got, or "" when none is close enough to be
// a likely typo.
func suggestField(got string, known []string) string {
	if s, ok := synonyms[strings.ToLower(got)]; ok && contains(known, s) {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	sort.Strings(known)
	best, bestD := "", -1
	lower := strings.ToLower(got)
	for _, k := range known {
		d := editDistance(lower, k)
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	// A third of the word (at least 1, at most 3 edits) is a typo; more
	// is a different word, and a wrong hint is worse than none.
	limit := min(max(len(got)/3, 1), 3)
	if best == "" || bestD > limit {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// editDistance is the Damerau-Levenshtein distance (adjacent swaps count
// as one edit) between a and b, in bytes: field names are ASCII.
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
