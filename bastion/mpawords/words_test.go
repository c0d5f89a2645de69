package mpawords_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpawords"
	"github.com/keyturn/keyturn/policy"
)

// mpaSentinels reads the texts of every errors.New sentinel mpa's
// source declares, so a sentinel added there without words here fails.
func mpaSentinels(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../mpa/*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		sentinelsIn(t, f, out)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d sentinels in bastion/mpa: the parse is wrong", len(out))
	}
	return out
}

func sentinelsIn(t *testing.T, f *ast.File, out map[string]string) {
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok || len(call.Args) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Err") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			t.Errorf("%s: not a literal message", vs.Names[0].Name)
			return true
		}
		text, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		out[vs.Names[0].Name] = text
		return true
	})
}

// inTable reports whether code is a status exitcode.Table lists for f.
func inTable(code int, f exitcode.Family) bool {
	for _, e := range exitcode.Table {
		if e.Code == code && slices.Contains(e.Families, f) {
			return true
		}
	}
	return false
}

// TestEverySentinelHasWords: every sentinel mpa declares has a sentence
// of its own (not mpa's log text) and, per family, a status from the one
// table.
func TestEverySentinelHasWords(t *testing.T) {
	known := map[string]error{}
	for _, e := range mpawords.Sentinels() {
		known[e.Error()] = e
	}
	for name, text := range mpaSentinels(t) {
		e, ok := known[text]
		if !ok {
			t.Errorf("mpa.%s (%q) has no words in mpawords", name, text)
			continue
		}
		wrapped := fmt.Errorf("approve req-1: %w", e)
		if !mpawords.Known(wrapped) {
			t.Errorf("mpa.%s wrapped is not Known", name)
		}
		for _, f := range []exitcode.Family{exitcode.Command, exitcode.Session} {
			s, code := mpawords.Error(wrapped, f, mpawords.Subject{Who: "bob", Request: "req-1"})
			if s == "" || strings.Contains(s, "mpa: ") {
				t.Errorf("mpa.%s: sentence %q: empty or with the log prefix", name, s)
			}
			if !inTable(code, f) {
				t.Errorf("mpa.%s: %s status %d is not in exitcode.Table for that family", name, f, code)
			}
			if code == exitcode.OK {
				t.Errorf("mpa.%s: %s status 0 for an error", name, f)
			}
		}
	}
	if n, m := len(mpawords.Sentinels()), len(mpaSentinels(t)); n != m {
		t.Errorf("mpawords lists %d sentinels, mpa declares %d", n, m)
	}
}

// The statuses scripts tell apart, as the README's table gives them.
func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err              error
		command, session int
	}{
		{mpa.ErrBadCode, exitcode.BadCode, exitcode.Denied},
		{mpa.ErrReplayedCode, exitcode.BadCode, exitcode.Denied},
		{fmt.Errorf("%w: it is rejected", mpa.ErrNotPending), exitcode.Decided, exitcode.Denied},
		{mpa.ErrExpired, exitcode.Decided, exitcode.Expired},
		{&mpa.LockedOutError{User: "bob"}, exitcode.NotPermitted, exitcode.Denied},
		{mpa.ErrInvalid, exitcode.Usage, exitcode.Usage},
		{mpa.ErrStoreFull, exitcode.Failure, exitcode.Unavailable},
		{errors.New("disk on fire"), exitcode.Failure, exitcode.Internal},
	} {
		if _, c := mpawords.Error(tc.err, exitcode.Command, mpawords.Subject{}); c != tc.command {
			t.Errorf("%v as a command: %d; want %d", tc.err, c, tc.command)
		}
		if _, c := mpawords.Error(tc.err, exitcode.Session, mpawords.Subject{}); c != tc.session {
			t.Errorf("%v in a session: %d; want %d", tc.err, c, tc.session)
		}
	}
}

// One sentence, said to a named approver (the CLI) or to "you" (the
// console).
func TestErrorSentences(t *testing.T) {
	until := time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC)
	bob := mpawords.Subject{Who: "bob", Request: "req-1"}
	for _, tc := range []struct {
		err  error
		s    mpawords.Subject
		want string
	}{
		{mpa.ErrBadCode, mpawords.Subject{Who: "bob", TriesLeft: "4 tries left before a 5-minute lock"}, "wrong TOTP code for bob; 4 tries left before a 5-minute lock"},
		{mpa.ErrBadCode, mpawords.Subject{}, "wrong TOTP code; check the code in your authenticator app"},
		{mpa.ErrReplayedCode, bob, "that TOTP code for bob was already used; wait for the next one (codes change every 30 s)"},
		{mpa.ErrReplayedCode, mpawords.Subject{}, "that TOTP code was already used; wait for the next one (codes change every 30 s)"},
		{&mpa.LockedOutError{User: "bob", Until: until}, bob, "bob is locked out after too many wrong TOTP codes, until 12:05:00 UTC"},
		{&mpa.LockedOutError{User: "bob", Until: until}, mpawords.Subject{}, "you are locked out after too many wrong TOTP codes, until 12:05:00 UTC"},
		{mpa.ErrLockedOut, mpawords.Subject{Who: "bob", LockFor: 5 * time.Minute}, "bob is locked out after too many wrong TOTP codes; try again in 5m0s"},
		{fmt.Errorf("%w: it is rejected", mpa.ErrNotPending), mpawords.Subject{Request: "req-1"}, "request req-1 was already decided: it is rejected"},
		{mpa.ErrNotPending, mpawords.Subject{Request: "req-1", Status: "approved"}, "request req-1 was already decided: it is approved"},
		{mpa.ErrSelfApproval, bob, "bob cannot vote on their own request req-1; another approver must"},
		{mpa.ErrSelfApproval, mpawords.Subject{Request: "req-1"}, "this is your own request: another approver must decide it"},
		{mpa.ErrNotInGroup, mpawords.Subject{Who: "erin", Request: "req-1"}, "erin is in none of the groups req-1 needs (see its lines: mpa requests view req-1)"},
		{mpa.ErrNotFound, mpawords.Subject{Request: "req-9"}, "no request req-9 (see: mpa requests list)"},
		{fmt.Errorf("cancel: %w", mpa.ErrInvalid), mpawords.Subject{}, "invalid input: cancel: invalid argument"},
		{errors.New("etcd: context deadline exceeded"), mpawords.Subject{}, "etcd: context deadline exceeded"},
	} {
		if got, _ := mpawords.Error(tc.err, exitcode.Command, tc.s); got != tc.want {
			t.Errorf("Error(%v, %+v) =\n  %q\nwant\n  %q", tc.err, tc.s, got, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\nactions:\n  - name: kill_process\n    service: process\n    description: stop or signal a process\n    required_approvals: 2\n    match: [{command: kill}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	descs := map[string]string{"kill_process": "stop or signal a process"}
	at := func(string) string { return "p.yaml line 7" }
	cmd := "sudo kill -9 1"
	got := strings.Join(mpawords.Explain(cmd, p.Decide(policy.Input{Command: cmd}), descs, at), "\n")
	want := "held for approval: kill_process (stop or signal a process)\n" +
		"  kill_process (p.yaml line 7): via sudo\n" +
		"    sudo kill -9 1\n" +
		"         ^^^^"
	if got != want {
		t.Errorf("Explain one line =\n%s\nwant\n%s", got, want)
	}
	// Two lines: no underline, the words in the match's line.
	cmd = "echo hi\nsudo kill 1"
	got = strings.Join(mpawords.Explain(cmd, p.Decide(policy.Input{Command: cmd}), nil, nil), "\n")
	want = "held for approval: kill_process\n" +
		"  kill_process: matched \"kill\" (via sudo)"
	if got != want {
		t.Errorf("Explain two lines =\n%s\nwant\n%s", got, want)
	}
	// A control character in the line: no raw escape reaches the
	// terminal, and no underline that would no longer line up.
	cmd = "kill 1 # \x1b[2K"
	got = strings.Join(mpawords.Explain(cmd, p.Decide(policy.Input{Command: cmd}), nil, nil), "\n")
	if strings.Contains(got, "\x1b") || strings.Contains(got, "^") || !strings.Contains(got, `matched "kill"`) {
		t.Errorf("Explain with an escape =\n%q", got)
	}
}

func TestMatchLine(t *testing.T) {
	for _, tc := range []struct {
		m     policy.Match
		where string
		want  string
	}{
		{policy.Match{Action: "kill_process", Words: []policy.Word{{Text: "kill"}, {Text: "-9"}}}, "", `kill_process: matched "kill", "-9"`},
		{policy.Match{Action: "kill_process", Words: []policy.Word{{Text: "kill"}}, Note: "via sudo"}, "p.yaml line 5", `kill_process (p.yaml line 5): matched "kill" (via sudo)`},
		{policy.Match{Action: "unresolved_command", Note: "command name is not a literal"}, "", "unresolved_command: command name is not a literal"},
		{policy.Match{Action: "x\u202e", Note: "a\nb"}, "", `x\u202e: a\nb`},
	} {
		if got := mpawords.MatchLine(tc.m, tc.where); got != tc.want {
			t.Errorf("MatchLine(%+v) = %q; want %q", tc.m, got, tc.want)
		}
	}
}

func TestQR(t *testing.T) {
	var b strings.Builder
	mpawords.QR(&b, "otpauth://totp/keyturn:bob?secret=JBSWY3DPEHPK3PXP&issuer=keyturn")
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	// Half blocks: a version-2 code (25 modules) with a quiet zone of 1
	// is 27 columns and 14 rows.
	if len(lines) < 10 || len(lines) > 20 || !strings.ContainsAny(b.String(), "▀▄█") {
		t.Errorf("QR: %d lines, want a half-block code:\n%s", len(lines), b.String())
	}
}
