package grant

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

func TestChallengeRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 64; i++ {
		c, err := NewChallenge()
		if err != nil {
			t.Fatal(err)
		}
		if seen[c] {
			t.Fatalf("challenge %s made twice", c)
		}
		seen[c] = true
		for _, line := range []string{ChallengeLine(c), strings.TrimSuffix(ChallengeLine(c), "\n") + "\r\n"} {
			got, err := ParseChallengeLine(line)
			if err != nil || got != c {
				t.Fatalf("%q: %q, %v", line, got, err)
			}
		}
	}
	for _, bad := range []string{
		"", "\n", "bash: keyturn-guard-v2: command not found\n",
		challengeTag + "\n",
		challengeTag + strings.Repeat("A", 64) + "\n",
		challengeTag + strings.Repeat("a", 63) + "\n",
		challengeTag + strings.Repeat("a", 64) + " extra\n",
		"x" + ChallengeLine(strings.Repeat("a", 64)),
		challengeTag + strings.Repeat("a", 64) + strings.Repeat("\r", 10) + "\n",
	} {
		if c, err := ParseChallengeLine(bad); err == nil {
			t.Errorf("%q accepted as challenge %q", bad, c)
		}
	}
}

// TestReadLineLeavesStdin: the guard reads exactly the grant line; what
// follows on stdin is the command's, byte for byte, even when the reader
// returns one byte at a time.
func TestReadLineLeavesStdin(t *testing.T) {
	tok := Prefix + strings.Repeat("x", 5000) + ".sig"
	var b bytes.Buffer
	if err := WriteLine(&b, tok); err != nil {
		t.Fatal(err)
	}
	b.WriteString("the command's stdin\n")
	for name, r := range map[string]io.Reader{"whole": bytes.NewReader(b.Bytes()), "bytewise": iotest.OneByteReader(bytes.NewReader(b.Bytes()))} {
		got, err := ReadLine(r)
		if err != nil || got != tok {
			t.Fatalf("%s: %.40q, %v", name, got, err)
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != "the command's stdin\n" {
			t.Fatalf("%s: left %q", name, rest)
		}
	}
}

// TestReadLineBounds: a length field, a token or a line that breaks the
// format is refused, and ReadLine never reads more than it was told it
// may (so a huge claimed length costs nothing).
func TestReadLineBounds(t *testing.T) {
	cases := map[string]string{
		"empty":           "",
		"no length":       " kt2.x\n",
		"zero":            "0 \n",
		"leading zero":    "05 kt2.x\n",
		"not a number":    "12a kt2.x\n",
		"over MaxToken":   strconv.Itoa(MaxToken+1) + " x\n",
		"long field":      strings.Repeat("1", 40) + " x\n",
		"negative":        "-5 kt2.x\n",
		"short":           "10 kt2.x\n",
		"no newline":      "5 kt2.xy",
		"wrong end":       "5 kt2.xyz\n",
		"newline in len":  "5\n kt2.x\n",
		"tab separator":   "5\tkt2.x\n",
		"space then more": "5  kt2.x\n",
	}
	for name, in := range cases {
		r := &countingReader{r: strings.NewReader(in)}
		if got, err := ReadLine(r); err == nil {
			t.Errorf("%s: %q accepted as %q", name, in, got)
		}
		if r.n > int64(MaxToken+maxLenField+2) {
			t.Errorf("%s: read %d bytes", name, r.n)
		}
	}
	// EOF before the line says so.
	if _, err := ReadLine(strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Errorf("empty input: %v", err)
	}
	if err := WriteLine(io.Discard, strings.Repeat("x", MaxToken+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized token written: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// FuzzHandshake: the guard's side of the handshake (the grant line, then
// the token) on any input never accepts a grant that fails its bounds or
// was not signed for this challenge, and never reads past the line.
func FuzzHandshake(f *testing.F) {
	s := sshtest.Signer(f)
	tok, _ := Sign(newGrant(f, time.Now()), s)
	var b bytes.Buffer
	WriteLine(&b, tok)
	f.Add(b.Bytes())
	f.Add([]byte("5 kt2.x\n"))
	f.Add([]byte("0 \n"))
	f.Add([]byte("99999999 x"))
	f.Add([]byte(strconv.Itoa(len(tok)) + " " + tok + "\ntrailing stdin"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		line, err := ReadLine(r)
		if err != nil {
			return
		}
		if int(r.n) != len(strconv.Itoa(len(line)))+1+len(line)+1 {
			t.Fatalf("read %d bytes for a line of %d", r.n, len(line))
		}
		g, err := Verify(line, s.PublicKey(), "t1", digest, chal, time.Now())
		if err == nil && (g.check() != nil || g.Challenge != chal) {
			t.Fatalf("accepted %+v", g)
		}
	})
}

func FuzzChallengeLine(f *testing.F) {
	f.Add(ChallengeLine(chal))
	f.Add(challengeTag + chal + "\r\n")
	f.Add("bash: line 1: keyturn-guard-v2: command not found\n")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseChallengeLine(line)
		if err != nil {
			return
		}
		if !validChallenge(c) || !strings.Contains(line, c) {
			t.Fatalf("%q gave challenge %q", line, c)
		}
	})
}
