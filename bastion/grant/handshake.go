package grant

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// challengeTag starts the guard's challenge line, so the gate can tell it
// from anything else a login prints.
const challengeTag = "keyturn-guard-challenge "

// challengeLen is the length of a challenge in hex: 256 random bits.
const challengeLen = 64

// MaxChallengeLine bounds the first stdout line the gate reads from a
// guarded target, "\r" (a terminal's) included.
const MaxChallengeLine = len(challengeTag) + challengeLen + 2

// maxLenField bounds the length field of the grant line: the decimal
// length of a token of at most MaxToken bytes.
var maxLenField = len(strconv.Itoa(MaxToken))

// NewChallenge returns a fresh challenge: 256 bits from the system's
// random source, in hex.
func NewChallenge() (string, error) {
	var b [challengeLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("grant: challenge: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func validChallenge(c string) bool {
	if len(c) != challengeLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !('0' <= c[i] && c[i] <= '9' || 'a' <= c[i] && c[i] <= 'f') {
			return false
		}
	}
	return true
}

// ChallengeLine is the line the guard writes to stdout for challenge.
func ChallengeLine(challenge string) string { return challengeTag + challenge + "\n" }

// ParseChallengeLine returns the challenge in line, the first line the
// gate read from a guarded target (its "\n" and a terminal's "\r" may be
// on it). Anything else is an error: the target's login is not the guard.
func ParseChallengeLine(line string) (string, error) {
	if len(line) > MaxChallengeLine {
		return "", fmt.Errorf("grant: challenge line of over %d bytes", MaxChallengeLine)
	}
	c, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), challengeTag)
	if !ok || !validChallenge(c) {
		return "", fmt.Errorf("grant: not a keyturn-guard challenge: %.80q", line)
	}
	return c, nil
}

// WriteLine sends token as the grant line: its length in decimal, a
// space, the token and "\n". The length lets the guard read exactly the
// line and nothing of the stdin that follows, which is the command's.
func WriteLine(w io.Writer, token string) error {
	if len(token) == 0 || len(token) > MaxToken {
		return fmt.Errorf("%w: token of %d bytes", ErrMalformed, len(token))
	}
	_, err := io.WriteString(w, strconv.Itoa(len(token))+" "+token+"\n")
	return err
}

// ReadLine reads one grant line from r, which must not be buffered: it
// reads the length field a byte at a time and then exactly the token and
// its "\n", so every byte after the line is left for the command. It reads
// at most MaxToken plus a few bytes.
func ReadLine(r io.Reader) (string, error) {
	var b [1]byte
	n := 0
	for digits := 0; ; digits++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("grant line: %w", noEOF(err))
		}
		if b[0] == ' ' && digits > 0 {
			break
		}
		if b[0] < '0' || b[0] > '9' || digits >= maxLenField || (digits == 1 && n == 0) {
			return "", fmt.Errorf("%w: grant line length field", ErrMalformed)
		}
		n = n*10 + int(b[0]-'0')
	}
	if n == 0 || n > MaxToken {
		return "", fmt.Errorf("%w: grant line of %d bytes (at most %d)", ErrMalformed, n, MaxToken)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("grant line: %w", noEOF(err))
	}
	if buf[n] != '\n' {
		return "", fmt.Errorf("%w: grant line not ended by a newline", ErrMalformed)
	}
	return string(buf[:n]), nil
}

// noEOF names an input that ended before the line did.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("input ended before the grant")
	}
	return err
}
