package grant

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Prefix starts every token, so a guard can tell a grant from anything
// else and refuse the rest. Version 1 tokens ("kt1.", sent as the ssh
// command and made single use by a nonce directory on the target) are
// refused: the account could read them from the guard's argv and delete
// their nonces.
const Prefix = "kt2."

// Bounds on what a token may carry.
const (
	MaxLine    = 64 << 10
	MaxActions = 64
	MaxToken   = 120 << 10
	// MaxTTL is the longest validity a grant may claim.
	MaxTTL = 10 * time.Minute
	// Skew is how far the target's clock may run behind the gate's.
	Skew = 30 * time.Second
)

// Errors a verification returns; each says why a grant was refused.
var (
	ErrMalformed = errors.New("grant: malformed token")
	ErrSignature = errors.New("grant: bad signature")
	ErrExpired   = errors.New("grant: expired")
	ErrNotYet    = errors.New("grant: not valid yet")
	ErrTarget    = errors.New("grant: issued for another target")
	ErrPolicy    = errors.New("grant: issued under another policy")
	// ErrChallenge is a grant signed for another run of the guard: a
	// replayed one, or one meant for another session.
	ErrChallenge = errors.New("grant: issued for another challenge (replayed?)")
)

// Grant is what the gate permits for one run of one line.
type Grant struct {
	Version int    `json:"v"`
	Target  string `json:"target"`
	Line    string `json:"line"`
	// Actions are the privileged action names the approvers granted; the
	// guard blocks any other it observes.
	Actions []string `json:"actions"`
	// Policy is the SHA-256 (hex) of the policies.yaml bytes the gate
	// decided with; the guard refuses to run under a different file.
	Policy string `json:"policy"`
	// Request is the held request this grant executes, if any, for the log.
	Request string `json:"request,omitempty"`
	// Challenge is the guard's challenge for this run (hex, see
	// [NewChallenge]); no other run of the guard accepts the grant.
	Challenge string `json:"challenge"`
	IssuedAt  int64  `json:"iat"`
	Expires   int64  `json:"exp"`
}

// PolicyDigest is the digest a grant carries for the policy file data.
func PolicyDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// New fills a grant for line on target answering the guard's challenge,
// valid for ttl from now. ttl is capped at MaxTTL.
func New(target, line string, actions []string, policyDigest, challenge string, now time.Time, ttl time.Duration) (*Grant, error) {
	if ttl <= 0 || ttl > MaxTTL {
		ttl = MaxTTL
	}
	acts := slices.Clone(actions)
	slices.Sort(acts)
	acts = slices.Compact(acts)
	g := &Grant{
		Version: 2, Target: target, Line: line, Actions: acts, Policy: policyDigest,
		Challenge: challenge, IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix(),
	}
	if acts == nil {
		g.Actions = []string{}
	}
	return g, g.check()
}

// check applies the bounds every grant must meet, signed or not.
func (g *Grant) check() error {
	switch {
	case g.Version != 2:
		return fmt.Errorf("%w: version %d", ErrMalformed, g.Version)
	case g.Target == "":
		return fmt.Errorf("%w: no target", ErrMalformed)
	case g.Line == "" || len(g.Line) > MaxLine:
		return fmt.Errorf("%w: line of %d bytes (want 1..%d)", ErrMalformed, len(g.Line), MaxLine)
	case len(g.Actions) > MaxActions:
		return fmt.Errorf("%w: %d actions (at most %d)", ErrMalformed, len(g.Actions), MaxActions)
	case !validChallenge(g.Challenge):
		return fmt.Errorf("%w: challenge", ErrMalformed)
	case len(g.Policy) != 64:
		return fmt.Errorf("%w: policy digest", ErrMalformed)
	case g.Expires <= g.IssuedAt || time.Duration(g.Expires-g.IssuedAt)*time.Second > MaxTTL:
		return fmt.Errorf("%w: validity %ds (want 1..%v)", ErrMalformed, g.Expires-g.IssuedAt, MaxTTL)
	}
	for _, a := range g.Actions {
		if a == "" || strings.ContainsAny(a, " \t\n,") {
			return fmt.Errorf("%w: action name %q", ErrMalformed, a)
		}
	}
	return nil
}

// Allows reports whether the grant covers the named action.
func (g *Grant) Allows(action string) bool { return slices.Contains(g.Actions, action) }

// signedData is what the signature covers: a domain string, so a signature
// made for anything else with the same key never verifies as a grant, then
// the payload bytes exactly as sent.
func signedData(payload []byte) []byte {
	return append([]byte("keyturn-grant-v2\x00"), payload...)
}

var b64 = base64.RawURLEncoding

// Sign encodes g and signs it with signer (the gate's host key).
func Sign(g *Grant, signer ssh.Signer) (string, error) {
	if err := g.check(); err != nil {
		return "", err
	}
	payload, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("grant: encode: %w", err)
	}
	sig, err := signer.Sign(rand.Reader, signedData(payload))
	if err != nil {
		return "", fmt.Errorf("grant: sign: %w", err)
	}
	tok := Prefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(ssh.Marshal(sig))
	if len(tok) > MaxToken {
		return "", fmt.Errorf("%w: token of %d bytes (at most %d)", ErrMalformed, len(tok), MaxToken)
	}
	return tok, nil
}

// Parse checks the signature of token against key and decodes it. It does
// not check time, target, policy or challenge; see [Verify].
func Parse(token string, key ssh.PublicKey) (*Grant, error) {
	if len(token) > MaxToken || !strings.HasPrefix(token, Prefix) {
		return nil, ErrMalformed
	}
	p64, s64, ok := strings.Cut(token[len(Prefix):], ".")
	if !ok {
		return nil, ErrMalformed
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	sigBytes, err := b64.DecodeString(s64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(sigBytes, &sig); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if err := key.Verify(signedData(payload), &sig); err != nil {
		return nil, ErrSignature
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var g Grant
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	return &g, nil
}

// Verify parses token and checks that it is valid at now for target under
// the policy with digest policyDigest, in answer to challenge, the one this
// run of the guard made. Since no two runs make the same challenge, a grant
// that passes Verify in one run is refused by every other.
func Verify(token string, key ssh.PublicKey, target, policyDigest, challenge string, now time.Time) (*Grant, error) {
	g, err := Parse(token, key)
	if err != nil {
		return nil, err
	}
	switch t := now.Unix(); {
	case !validChallenge(challenge) || subtle.ConstantTimeCompare([]byte(g.Challenge), []byte(challenge)) != 1:
		return nil, ErrChallenge
	case t >= g.Expires:
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(g.Expires, 0).UTC().Format(time.RFC3339))
	case t+int64(Skew/time.Second) < g.IssuedAt:
		return nil, fmt.Errorf("%w: issued at %s", ErrNotYet, time.Unix(g.IssuedAt, 0).UTC().Format(time.RFC3339))
	case g.Target != target:
		return nil, fmt.Errorf("%w %q (this is %q)", ErrTarget, g.Target, target)
	case g.Policy != policyDigest:
		return nil, fmt.Errorf("%w (grant %.12s, here %.12s)", ErrPolicy, g.Policy, policyDigest)
	}
	return g, nil
}
