package krl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// The testdata KRLs were written by OpenSSH 9.2's ssh-keygen -k from the
// certificates beside them (see testdata/README).

func readKey(t *testing.T, name string) gossh.PublicKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return key
}

func readList(t *testing.T, name string) *List {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return l
}

func TestSSHKeygenLists(t *testing.T) {
	all := []string{"cert-1.pub", "cert-7.pub", "cert-8.pub", "cert-42.pub", "cert-42-ca2.pub", "cert-100.pub",
		"cert-1000.pub", "cert-1003.pub", "cert-1004.pub", "cert-bob-laptop.pub"}
	for _, tc := range []struct {
		list    string
		revoked []string
	}{
		// ssh-keygen -k -s ca.pub cert-42.pub: serial 42 under ca only.
		{"serial42.krl", []string{"cert-42.pub"}},
		// serial: 7-8, serial: 100, id: bob-laptop (bitmap and list).
		{"spec.krl", []string{"cert-7.pub", "cert-8.pub", "cert-100.pub", "cert-bob-laptop.pub"}},
		// even serials 1000..1200 as a bitmap.
		{"bitmap.krl", []string{"cert-1000.pub", "cert-1004.pub"}},
		// the plain key certified by cert-100 (explicit key section).
		{"key.krl", []string{"cert-100.pub"}},
		// the SHA-256 hash of the key certified by cert-7 (and, in
		// cert-bob-laptop's case, no: that is u8).
		{"sha256.krl", []string{"cert-7.pub"}},
		// the CA key itself: every certificate it signed.
		{"ca.krl", []string{"cert-1.pub", "cert-7.pub", "cert-8.pub", "cert-42.pub", "cert-100.pub",
			"cert-1000.pub", "cert-1003.pub", "cert-1004.pub", "cert-bob-laptop.pub"}},
		// plain text form.
		{"plain.list", []string{"cert-7.pub"}},
	} {
		t.Run(tc.list, func(t *testing.T) {
			l := readList(t, tc.list)
			want := map[string]bool{}
			for _, c := range tc.revoked {
				want[c] = true
			}
			for _, c := range all {
				got, why := l.Revoked(readKey(t, c))
				if got != want[c] {
					t.Errorf("%s revokes %s: %v (%s), want %v", tc.list, c, got, why, want[c])
				}
				if got && why == "" {
					t.Errorf("%s revokes %s without saying why", tc.list, c)
				}
			}
		})
	}
}

// TestPlainKeyRevoked: a revoked key is refused on its own too, not only
// inside a certificate.
func TestPlainKeyRevoked(t *testing.T) {
	cert := readKey(t, "cert-100.pub").(*gossh.Certificate)
	if got, _ := readList(t, "key.krl").Revoked(cert.Key); !got {
		t.Error("key.krl does not revoke the plain key it lists")
	}
	if got, _ := readList(t, "serial42.krl").Revoked(cert.Key); got {
		t.Error("a serial revocation revoked a plain key")
	}
}

func TestNilListRevokesNothing(t *testing.T) {
	var l *List
	if got, _ := l.Revoked(readKey(t, "cert-42.pub")); got {
		t.Error("nil list revoked a key")
	}
}

// krlWith builds a KRL header followed by one section.
func krlWith(typ byte, body []byte) []byte {
	var b bytes.Buffer
	b.Write(magic)
	binary.Write(&b, binary.BigEndian, uint32(1))
	binary.Write(&b, binary.BigEndian, uint64(1)) // krl version
	binary.Write(&b, binary.BigEndian, uint64(0)) // date
	binary.Write(&b, binary.BigEndian, uint64(0)) // flags
	binary.Write(&b, binary.BigEndian, uint32(0)) // reserved
	binary.Write(&b, binary.BigEndian, uint32(0)) // comment
	b.WriteByte(typ)
	binary.Write(&b, binary.BigEndian, uint32(len(body)))
	b.Write(body)
	return b.Bytes()
}

func str(s string) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
	return append(out, s...)
}

// TestRefusesWhatItCannotRead: a list the parser does not understand in
// full is an error, never a shorter list.
func TestRefusesWhatItCannotRead(t *testing.T) {
	good, err := os.ReadFile("testdata/spec.krl")
	if err != nil {
		t.Fatal(err)
	}
	critical := append(append(str("x@example.com"), 1), str("")...)
	harmless := append(append(str("x@example.com"), 0), str("")...)
	for name, data := range map[string][]byte{
		"signature section":    krlWith(sectionSignature, append(str("k"), str("sig")...)),
		"unknown section":      krlWith(9, nil),
		"critical extension":   krlWith(sectionExtension, critical),
		"short sha256":         krlWith(sectionSHA256, str("abc")),
		"bad explicit key":     krlWith(sectionExplicitKey, str("not a key")),
		"section overruns":     append(krlWith(sectionSHA256, nil)[:len(krlWith(sectionSHA256, nil))-4], 0, 0, 1, 0),
		"wrong format version": append(append([]byte{}, magic...), 0, 0, 0, 2),
		"truncated":            good[:len(good)-3],
		"not a key line":       []byte("ssh-ed25519 notbase64!\n"),
		"backwards range": krlWith(sectionCertificates, append(append(str(""), str("")...),
			append([]byte{certSerialRange}, str(string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 9), 3)))...)...)),
		"unknown cert subsection": krlWith(sectionCertificates, append(append(str(""), str("")...), append([]byte{0x30}, str("")...)...)),
	} {
		if _, err := Parse(data); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Parse = %v, want ErrFormat", name, err)
		}
	}
	if _, err := Parse(krlWith(sectionExtension, harmless)); err != nil {
		t.Errorf("a non-critical extension is refused: %v", err)
	}
	if _, err := Parse(make([]byte, MaxSize+1)); !errors.Is(err, ErrFormat) {
		t.Errorf("an oversized list is accepted: %v", err)
	}
}

// TestWildcardCASection: a certificate section with no CA key applies to
// every CA's certificates.
func TestWildcardCASection(t *testing.T) {
	ids := append([]byte{certKeyID}, str(string(str("user-42-ca2")))...)
	l, err := Parse(krlWith(sectionCertificates, append(append(str(""), str("")...), ids...)))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Revoked(readKey(t, "cert-42-ca2.pub")); !got {
		t.Error("wildcard key id section did not revoke")
	}
	if got, _ := l.Revoked(readKey(t, "cert-42.pub")); got {
		t.Error("wildcard key id section revoked another key id")
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"serial42.krl", "spec.krl", "bitmap.krl", "key.krl", "sha256.krl", "ca.krl", "plain.list"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	probe, err := os.ReadFile("testdata/cert-1000.pub")
	if err != nil {
		f.Fatal(err)
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey(probe)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			if l != nil {
				t.Fatal("Parse returned a list with an error")
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		l.Revoked(key)
		l.Revoked(key.(*gossh.Certificate).Key)
	})
}

// KeyLines numbers the lines as the file does, counting the blank and
// comment lines it skips, trims each line (a CRLF file's too), and stops
// when the caller does.
func TestKeyLines(t *testing.T) {
	data := []byte("# revoked\r\n\r\n  ssh-ed25519 AAAA one  \r\n\t#indented comment\nssh-ed25519 BBBB two\n\n")
	var got []string
	for n, line := range KeyLines(data) {
		got = append(got, fmt.Sprintf("%d:%s", n, line))
	}
	want := []string{"3:ssh-ed25519 AAAA one", "5:ssh-ed25519 BBBB two"}
	if !slices.Equal(got, want) {
		t.Errorf("KeyLines = %q; want %q", got, want)
	}
	for n := range KeyLines(data) {
		if n != 3 {
			t.Errorf("first line %d; want 3", n)
		}
		break
	}
}
