package main

import (
	"io"
	"strings"
	"testing"
)

// usageCase is a command line to a tool and what it must answer: the exit
// status, and text its stdout and its stderr contain.
type usageCase struct {
	args   string
	code   int
	stdout string
	stderr string
}

// dispatchCases are the rows every command that dispatches through
// subcommands answers alike: no command, --help (whose usage contains
// help), and a command it does not know.
func dispatchCases(help string) []usageCase {
	return []usageCase{
		{"", 2, "", "Usage:"},
		{"--help", 0, help, ""},
		{"frob", 2, "", `unknown command "frob"`},
	}
}

// TestToolUsage: each offline tool's help, usage errors and bad flags.
func TestToolUsage(t *testing.T) {
	for _, tool := range []struct {
		name  string
		main  func([]string, io.Reader, io.Writer, io.Writer) int
		cases []usageCase
	}{
		{"audit", auditMain, append(dispatchCases("keyturn audit verify --file EXPORT.jsonl"),
			usageCase{"verify --help", 0, "-data-dir dir", ""},
			usageCase{"verify", 2, "", "give exactly one of --data-dir and --file"},
			usageCase{"verify --data-dir a --file b", 2, "", "give exactly one of --data-dir and --file"},
			usageCase{"verify --file b --encryption-key-file k", 2, "", "--encryption-key-file goes with --data-dir"},
			usageCase{"verify --file b extra", 2, "", `unexpected argument "extra"`},
			usageCase{"verify --bogus", 2, "", "flag provided but not defined: -bogus"},
		)},
		{"breakglass", breakglassMain, append(dispatchCases("approves the pending"),
			usageCase{"register-approver --help", 0, "-data-dir dir", ""},
			usageCase{"register-approver dave", 2, "", "--data-dir is required"},
			usageCase{"register-approver --data-dir x", 2, "", "want exactly one approver NAME, got 0"},
			usageCase{"register-approver --data-dir x a b", 2, "", "got 2"},
		)},
		{"policy", policyMain, append(dispatchCases("keyturn policy check [--config keyturn.yaml] [FILE]"),
			usageCase{"-help", 0, "keyturn policy test", ""},
		)},
		// keyturn itself, with "keyturn" as its tool name below.
		{"", run, append(dispatchCases("keyturn serve"),
			usageCase{"--version", 0, "keyturn", ""},
			usageCase{"version", 0, "keyturn", ""},
		)},
	} {
		for _, tc := range tool.cases {
			r := runTool(tool.main, "", strings.Fields(tc.args)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("keyturn %s %s: exit %d\nstdout: %s\nstderr: %s\nwant %d, %q, %q", tool.name, tc.args, r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
			}
		}
	}
}
