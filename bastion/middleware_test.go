package bastion

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/anmitsu/go-shlex"
	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/mpacli"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mpa requests approve req-1 --totp-code 123456 --comment ok", "mpa requests approve req-1 --totp-code '******' --comment ok"},
		{"mpa complete-registration --totp-code=654321", "mpa complete-registration '--totp-code=******'"},
		{"uptime", "uptime"},
		// Go's flag package takes one dash as well as two.
		{"mpa requests approve req-1 -totp-code 123456", "mpa requests approve req-1 -totp-code '******'"},
		{"mpa complete-registration -totp-code=123456", "mpa complete-registration '-totp-code=******'"},
		// Quoting and white space the parser undoes.
		{"mpa requests approve req-1 '-totp-code' \"123456\"", "mpa requests approve req-1 -totp-code '******'"},
		{"mpa\trequests approve req-1\t-totp-code\t123456", "mpa requests approve req-1 -totp-code '******'"},
		{"mpa requests approve req-1 -totp-code '123 456'", "mpa requests approve req-1 -totp-code '******'"},
		{"mpa requests approve req-1 -totp\\-code 123456", "mpa requests approve req-1 -totp-code '******'"},
		// Twice, and after positional arguments and other flags.
		{"mpa requests reject req-1 --comment no -totp-code 111111 --totp-code=222222", "mpa requests reject req-1 --comment no -totp-code '******' '--totp-code=******'"},
		// A line that does not split still loses its code.
		{"mpa requests approve req-1 -totp-code 123456 'unclosed", "mpa requests approve req-1 -totp-code '******' ''\\''unclosed'"},
	}
	for _, tt := range tests {
		got := redactSecrets(tt.in)
		if got != tt.want {
			t.Errorf("redactSecrets(%q) = %q; want %q", tt.in, got, tt.want)
		}
		for _, code := range []string{"123456", "654321", "111111", "222222", "123 456"} {
			if strings.Contains(got, code) {
				t.Errorf("redactSecrets(%q) = %q still shows %q", tt.in, got, code)
			}
		}
	}
}

// TestRedactArgsAgreesWithParser checks the redaction against what the mpa
// commands themselves take as the code: every spelling they accept is
// redacted, so no spelling both works and reaches the log.
func TestRedactArgsAgreesWithParser(t *testing.T) {
	for _, args := range [][]string{
		{"-totp-code", "123456"},
		{"--totp-code", "123456"},
		{"-totp-code=123456"},
		{"--totp-code=123456"},
	} {
		out, n := mpacli.RedactArgs(args)
		if n != 1 || strings.Contains(strings.Join(out, " "), "123456") {
			t.Errorf("RedactArgs(%q) = %q, %d; want the code hidden", args, out, n)
		}
	}
	// Not flags, as the flag package sees them: nothing to hide, nothing
	// changed.
	for _, args := range [][]string{
		{"---totp-code", "1"}, {"--", "totp-code", "1"}, {"-", "1"}, {"-totp-codes", "1"}, {"-totp-code="},
	} {
		if out, n := mpacli.RedactArgs(args); n != 0 || strings.Join(out, " ") != strings.Join(args, " ") {
			t.Errorf("RedactArgs(%q) = %q, %d; want it unchanged", args, out, n)
		}
	}
}

// TestLogSessionsHidesOneDashCode is issue 16 item 11: "-totp-code 123456"
// (one dash, which Go's flag package accepts) was logged in clear.
func TestLogSessionsHidesOneDashCode(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ran := false
	h := logSessions(log)(func(ssh.Session) { ran = true })
	h(fakeSession{raw: "mpa requests approve req-0123456789 -totp-code 987654"})
	if !ran {
		t.Fatal("handler not called")
	}
	if strings.Contains(buf.String(), "987654") {
		t.Fatalf("the code is in the log:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "req-0123456789") {
		t.Fatalf("the rest of the line is missing from the log:\n%s", buf.String())
	}
}

// fakeSession is the little of a session logSessions reads.
type fakeSession struct {
	ssh.Session
	raw string
}

func (f fakeSession) User() string                            { return "carol" }
func (f fakeSession) RemoteAddr() net.Addr                    { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f fakeSession) RawCommand() string                      { return f.raw }
func (f fakeSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return ssh.Pty{}, nil, false }

// parsedCode is the TOTP code the mpa commands would read from line: split
// as the gate splits it, flags read as mpacli's parse loop reads them
// (flags anywhere among the positional arguments).
func parsedCode(line string) string {
	args, err := shlex.Split(line, true)
	if err != nil {
		return ""
	}
	fs := flag.NewFlagSet("mpa", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	code := fs.String(mpacli.FlagTOTPCode, "", "")
	fs.String("comment", "", "")
	fs.Bool("json", false, "")
	for len(args) > 0 {
		if fs.Parse(args) != nil {
			return *code
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		args = rest[1:]
	}
	return *code
}

// FuzzRedactSecrets: whatever the line, what the commands would take as
// the code is not readable in the logged line: parsing the logged line
// yields no code, or the redaction mark.
func FuzzRedactSecrets(f *testing.F) {
	for _, s := range []string{
		"mpa requests approve req-1 --totp-code 123456",
		"mpa requests approve req-1 -totp-code=123456 --comment 'ok then'",
		"mpa requests approve req-1 '-totp-code' \"123456\"",
		"mpa requests approve req-1 -totp\\-code 123456 'open",
		"mpa complete-registration --json -totp-code 1 -- -totp-code 2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		code := parsedCode(line)
		if code == "" || code == mpacli.Redacted {
			return
		}
		logged := redactSecrets(line)
		if got := parsedCode(logged); got != "" && got != mpacli.Redacted {
			t.Fatalf("line %q is logged as %q, which still parses to code %q", line, logged, got)
		}
	})
}
