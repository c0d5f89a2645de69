package grant

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/sshtest"
)

var (
	digest = PolicyDigest([]byte("version: 1\n"))
	chal   = strings.Repeat("c0", 32)
)

func newGrant(t testing.TB, now time.Time) *Grant {
	t.Helper()
	g, err := New("t1", "kill 4242", []string{"kill_process", "kill_process"}, digest, chal, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestVerify(t *testing.T) {
	s := sshtest.Signer(t)
	now := time.Unix(1_800_000_000, 0)
	g := newGrant(t, now)
	tok, err := Sign(g, s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok, " \t\n'\"\\$") {
		t.Fatalf("token has characters a shell or sshd would touch: %q", tok)
	}
	got, err := Verify(tok, s.PublicKey(), "t1", digest, chal, now.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.Line != "kill 4242" || len(got.Actions) != 1 || !got.Allows("kill_process") || got.Allows("delete_snapshot") {
		t.Fatalf("decoded %+v", got)
	}
	// The same grant in another run of the guard, which made another
	// challenge: refused, with no state anywhere.
	other, err := NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(tok, s.PublicKey(), "t1", digest, other, now.Add(10*time.Second)); !errors.Is(err, ErrChallenge) {
		t.Fatalf("replay under another challenge: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s, other := sshtest.Signer(t), sshtest.Signer(t)
	now := time.Unix(1_800_000_000, 0)
	sign := func(g *Grant, k ssh.Signer) string {
		tok, err := Sign(g, k)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(newGrant(t, now), s)
	payload, sig, _ := strings.Cut(strings.TrimPrefix(good, Prefix), ".")
	altered := newGrant(t, now)
	altered.Actions = []string{"delete_snapshot", "kill_process"}
	altPayload, _, _ := strings.Cut(strings.TrimPrefix(sign(altered, other), Prefix), ".")
	cases := []struct {
		name   string
		tok    string
		at     time.Time
		target string
		policy string
		chal   string
		want   error
	}{
		{"other key", sign(newGrant(t, now), other), now, "t1", digest, chal, ErrSignature},
		{"payload swapped", Prefix + altPayload + "." + sig, now, "t1", digest, chal, ErrSignature},
		{"no signature", Prefix + payload, now, "t1", digest, chal, ErrMalformed},
		{"not a grant", "kill 4242", now, "t1", digest, chal, ErrMalformed},
		{"bad base64", Prefix + "!!." + sig, now, "t1", digest, chal, ErrMalformed},
		{"expired", sign(newGrant(t, now), s), now.Add(time.Minute), "t1", digest, chal, ErrExpired},
		{"from the future", sign(newGrant(t, now.Add(time.Hour)), s), now, "t1", digest, chal, ErrNotYet},
		{"other target", sign(newGrant(t, now), s), now, "t2", digest, chal, ErrTarget},
		{"other policy", sign(newGrant(t, now), s), now, "t1", PolicyDigest([]byte("x")), chal, ErrPolicy},
		{"huge", Prefix + strings.Repeat("A", MaxToken), now, "t1", digest, chal, ErrMalformed},
		{"other challenge", sign(newGrant(t, now), s), now, "t1", digest, strings.Repeat("c1", 32), ErrChallenge},
		{"empty challenge", sign(newGrant(t, now), s), now, "t1", digest, "", ErrChallenge},
		{"version 1 token", "kt1." + payload + "." + sig, now, "t1", digest, chal, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.tok, s.PublicKey(), tc.target, tc.policy, tc.chal, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSignatureDomain: a signature the gate's key made over anything else
// (say, an SSH session) never verifies as a grant.
func TestSignatureDomain(t *testing.T) {
	s := sshtest.Signer(t)
	g := newGrant(t, time.Now())
	tok, _ := Sign(g, s)
	payload, _, _ := strings.Cut(strings.TrimPrefix(tok, Prefix), ".")
	raw, _ := b64.DecodeString(payload)
	sig, err := s.Sign(rand.Reader, raw) // the payload without the domain
	if err != nil {
		t.Fatal(err)
	}
	forged := Prefix + payload + "." + b64.EncodeToString(ssh.Marshal(sig))
	if _, err := Parse(forged, s.PublicKey()); !errors.Is(err, ErrSignature) {
		t.Fatalf("undomained signature: %v", err)
	}
}

func TestNewBounds(t *testing.T) {
	now := time.Now()
	if _, err := New("t1", "", nil, digest, chal, now, time.Minute); err == nil {
		t.Error("empty line accepted")
	}
	if _, err := New("t1", strings.Repeat("x", MaxLine+1), nil, digest, chal, now, time.Minute); err == nil {
		t.Error("oversized line accepted")
	}
	if _, err := New("t1", "ls", []string{"a b"}, digest, chal, now, time.Minute); err == nil {
		t.Error("action with a space accepted")
	}
	if _, err := New("", "ls", nil, digest, chal, now, time.Minute); err == nil {
		t.Error("no target accepted")
	}
	g, err := New("t1", "ls", nil, digest, chal, now, 24*time.Hour)
	if err != nil || time.Duration(g.Expires-g.IssuedAt)*time.Second != MaxTTL {
		t.Errorf("ttl not capped: %v %+v", err, g)
	}
	for _, c := range []string{"", "C0" + chal[2:], chal[:62], chal + "00", strings.Repeat("g0", 32)} {
		if _, err := New("t1", "ls", nil, digest, c, now, time.Minute); err == nil {
			t.Errorf("challenge %q accepted", c)
		}
	}
	if g.Actions == nil || len(g.Actions) != 0 {
		t.Errorf("no actions must encode as []: %#v", g.Actions)
	}
}

func FuzzParse(f *testing.F) {
	s := sshtest.Signer(f)
	tok, _ := Sign(newGrant(f, time.Now()), s)
	f.Add(tok)
	f.Add(Prefix + ".")
	f.Add(Prefix + "e30.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		g, err := Parse(tok, s.PublicKey())
		if err == nil && g.check() != nil {
			t.Fatalf("accepted a grant that fails its bounds: %+v", g)
		}
	})
}
