package config

import "github.com/keyturn/keyturn/policy"

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
// a likely typo (the same rule as policies.yaml's errors).
func suggestField(got string, known []string) string {
	return policy.SuggestName(got, known, synonyms)
}
