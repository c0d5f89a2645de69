package mpacli

import "strings"

// FlagTOTPCode is the flag approvers give their one-time code with.
const FlagTOTPCode = "totp-code"

// secretFlags are the flags whose values must never reach a log. A code
// the gate refused before checking it (a wrong request id, say) has not
// been used, and stays valid for a minute or so.
var secretFlags = map[string]bool{FlagTOTPCode: true}

// Redacted stands in for a secret flag's value.
const Redacted = "******"

// RedactArgs returns a copy of args with the value of every secret flag
// replaced by [Redacted], and how many it replaced. It reads flags the way
// the commands' flag.FlagSets do: one dash or two (Go's flag package takes
// both), the value after "=" in the same word or else in the next word.
// Unlike the flag package it does not stop at "--" or at the first
// positional argument (the commands read flags after positional arguments
// too): in a log, hiding one word too many costs nothing.
func RedactArgs(args []string) ([]string, int) {
	out := append([]string(nil), args...)
	n := 0
	for i := 0; i < len(out); i++ {
		name, value, hasValue, ok := flagWord(out[i])
		if !ok || !secretFlags[name] {
			continue
		}
		switch {
		case hasValue:
			if value != "" {
				out[i] = out[i][:len(out[i])-len(value)] + Redacted
				n++
			}
		case i+1 < len(out):
			i++
			out[i] = Redacted
			n++
		}
	}
	return out, n
}

// flagWord splits a word the way flag.FlagSet.parseOne does: "-name",
// "--name", "-name=value" or "--name=value". ok is false for anything
// else ("-", "--", "---name", "-=x").
func flagWord(w string) (name, value string, hasValue, ok bool) {
	if len(w) < 2 || w[0] != '-' {
		return "", "", false, false
	}
	name = w[1:]
	if name[0] == '-' {
		name = name[1:]
		if name == "" {
			return "", "", false, false // "--" ends the flags
		}
	}
	if name == "" || name[0] == '-' || name[0] == '=' {
		return "", "", false, false
	}
	if k, v, found := strings.Cut(name, "="); found {
		return k, v, true, true
	}
	return name, "", false, true
}

// QuoteArgs joins words into a command line a POSIX shell (and the gate's
// own parser) splits back into the same words.
func QuoteArgs(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}
