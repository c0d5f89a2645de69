package grant

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var digest = PolicyDigest([]byte("version: 1\n"))

func signer(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newGrant(t testing.TB, now time.Time) *Grant {
	t.Helper()
	g, err := New("t1", "kill 4242", []string{"kill_process", "kill_process"}, digest, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestVerify(t *testing.T) {
	s := signer(t)
	now := time.Unix(1_800_000_000, 0)
	store := &NonceStore{Dir: t.TempDir()}
	g := newGrant(t, now)
	tok, err := Sign(g, s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok, " \t\n'\"\\$") {
		t.Fatalf("token has characters a shell or sshd would touch: %q", tok)
	}
	got, err := Verify(tok, s.PublicKey(), "t1", digest, now.Add(10*time.Second), store)
	if err != nil {
		t.Fatal(err)
	}
	if got.Line != "kill 4242" || len(got.Actions) != 1 || !got.Allows("kill_process") || got.Allows("delete_snapshot") {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := Verify(tok, s.PublicKey(), "t1", digest, now.Add(10*time.Second), store); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s, other := signer(t), signer(t)
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
		want   error
	}{
		{"other key", sign(newGrant(t, now), other), now, "t1", digest, ErrSignature},
		{"payload swapped", Prefix + altPayload + "." + sig, now, "t1", digest, ErrSignature},
		{"no signature", Prefix + payload, now, "t1", digest, ErrMalformed},
		{"not a grant", "kill 4242", now, "t1", digest, ErrMalformed},
		{"bad base64", Prefix + "!!." + sig, now, "t1", digest, ErrMalformed},
		{"expired", sign(newGrant(t, now), s), now.Add(time.Minute), "t1", digest, ErrExpired},
		{"from the future", sign(newGrant(t, now.Add(time.Hour)), s), now, "t1", digest, ErrNotYet},
		{"other target", sign(newGrant(t, now), s), now, "t2", digest, ErrTarget},
		{"other policy", sign(newGrant(t, now), s), now, "t1", PolicyDigest([]byte("x")), ErrPolicy},
		{"huge", Prefix + strings.Repeat("A", MaxToken), now, "t1", digest, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &NonceStore{Dir: t.TempDir()}
			_, err := Verify(tc.tok, s.PublicKey(), tc.target, tc.policy, tc.at, store)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if ents, _ := os.ReadDir(store.Dir); len(ents) != 0 {
				t.Fatal("a refused grant spent a nonce")
			}
		})
	}
}

// TestSignatureDomain: a signature the gate's key made over anything else
// (say, an SSH session) never verifies as a grant.
func TestSignatureDomain(t *testing.T) {
	s := signer(t)
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
	if _, err := New("t1", "", nil, digest, now, time.Minute); err == nil {
		t.Error("empty line accepted")
	}
	if _, err := New("t1", strings.Repeat("x", MaxLine+1), nil, digest, now, time.Minute); err == nil {
		t.Error("oversized line accepted")
	}
	if _, err := New("t1", "ls", []string{"a b"}, digest, now, time.Minute); err == nil {
		t.Error("action with a space accepted")
	}
	if _, err := New("", "ls", nil, digest, now, time.Minute); err == nil {
		t.Error("no target accepted")
	}
	g, err := New("t1", "ls", nil, digest, now, 24*time.Hour)
	if err != nil || time.Duration(g.Expires-g.IssuedAt)*time.Second != MaxTTL {
		t.Errorf("ttl not capped: %v %+v", err, g)
	}
	if g.Actions == nil || len(g.Actions) != 0 {
		t.Errorf("no actions must encode as []: %#v", g.Actions)
	}
}

// TestNonceStoreRace: two guards spending the same grant at once, one wins.
func TestNonceStoreRace(t *testing.T) {
	store := &NonceStore{Dir: filepath.Join(t.TempDir(), "n")}
	now := time.Now()
	nonce := strings.Repeat("ab", 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if store.Spend(nonce, now.Add(time.Minute), now) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d spends won", wins)
	}
}

func TestNonceStorePrunesAndFailsClosed(t *testing.T) {
	dir := t.TempDir()
	store := &NonceStore{Dir: dir}
	now := time.Unix(1_800_000_000, 0)
	old := strings.Repeat("01", 16)
	if err := store.Spend(old, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	if err := store.Spend(strings.Repeat("02", 16), later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries after prune, want 1", len(ents))
	}
	if err := store.Spend("../../etc/passwd", now, now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("path in nonce: %v", err)
	}
	// A store that cannot be written refuses.
	ro := &NonceStore{Dir: filepath.Join(dir, "file")}
	os.WriteFile(ro.Dir, nil, 0o600)
	if err := ro.Spend(strings.Repeat("03", 16), later, later); err == nil {
		t.Fatal("spent into a store that is a file")
	}
	if err := (*NonceStore)(nil).Spend(strings.Repeat("03", 16), later, later); err == nil {
		t.Fatal("spent without a store")
	}
}

func FuzzParse(f *testing.F) {
	s := signer(f)
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
