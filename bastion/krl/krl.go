package krl

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	gossh "golang.org/x/crypto/ssh"
)

// MaxSize bounds a revocation list the parser accepts; a KRL for a large
// site is a few hundred kilobytes.
const MaxSize = 16 << 20

// maxBitmap bounds one serial bitmap (in bytes): 1 MiB covers eight
// million consecutive serials.
const maxBitmap = 1 << 20

// Section and subsection types from PROTOCOL.krl.
const (
	sectionCertificates = 1
	sectionExplicitKey  = 2
	sectionSHA1         = 3
	sectionSignature    = 4
	sectionSHA256       = 5
	sectionExtension    = 255

	certSerialList   = 0x20
	certSerialRange  = 0x21
	certSerialBitmap = 0x22
	certKeyID        = 0x23
	certExtension    = 0x39
)

var magic = []byte("SSHKRL\n\x00")

const formatVersion = 1

// ErrFormat wraps every parse error.
var ErrFormat = errors.New("krl: malformed revocation list")

// List is a parsed revocation list. Its zero value revokes nothing. It is
// not changed after Parse, so it may be shared between goroutines.
type List struct {
	// Version is the KRL's krl_version (0 for a plain key list).
	Version uint64
	// keys are revoked key blobs (the plain key of a certificate).
	keys map[string]bool
	sha1 map[string]bool
	sha2 map[string]bool
	// certs are the certificate sections, by CA key blob ("" for the
	// sections that apply to every CA).
	certs map[string]*certRevocations
}

type certRevocations struct {
	serials map[uint64]bool
	ranges  [][2]uint64
	bitmaps []bitmap
	keyIDs  map[string]bool
}

type bitmap struct {
	offset uint64
	bits   []byte // big-endian: the last byte's low bit is offset+0
}

func (b bitmap) has(serial uint64) bool {
	if serial < b.offset {
		return false
	}
	i := serial - b.offset
	if i/8 >= uint64(len(b.bits)) {
		return false
	}
	return b.bits[uint64(len(b.bits))-1-i/8]&(1<<(i%8)) != 0
}

func newList() *List {
	return &List{keys: map[string]bool{}, sha1: map[string]bool{}, sha2: map[string]bool{}, certs: map[string]*certRevocations{}}
}

// Parse reads a revocation list in either form: a binary KRL (recognised
// by its magic number) or text lines of public keys, where blank lines and
// lines starting with '#' are skipped. An error names what is wrong and
// where; no partial list is returned.
func Parse(data []byte) (*List, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrFormat, len(data), MaxSize)
	}
	if bytes.HasPrefix(data, magic) {
		return parseKRL(data)
	}
	return parseKeyList(data)
}

func parseKeyList(data []byte) (*List, error) {
	l := newList()
	for n, line := range KeyLines(data) {
		key, _, _, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, n, err)
		}
		l.keys[string(plain(key).Marshal())] = true
	}
	return l, nil
}

// KeyLines yields the lines of a list of public keys in the text form
// sshd reads (a plain RevokedKeys, authorized_keys, TrustedUserCAKeys),
// each trimmed of white space and with its number counted from 1; blank
// lines and lines starting with '#' are skipped. What a line must hold is
// the caller's to check.
func KeyLines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for i, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if !yield(i+1, line) {
				return
			}
		}
	}
}

// plain returns the key a certificate certifies, or key itself.
func plain(key gossh.PublicKey) gossh.PublicKey {
	if c, ok := key.(*gossh.Certificate); ok {
		return c.Key
	}
	return key
}

// reader takes SSH wire-format values off a buffer; the first error
// sticks and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s", ErrFormat, what)
	}
	r.b = nil
}

// take returns the next n bytes, or nil (and the error sticks) if there
// are fewer: the one bounds check every read goes through.
func (r *reader) take(n uint64, what string) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str(what string) []byte {
	return r.take(uint64(r.u32(what)), what)
}

// more reports whether there is more to read: no error so far and bytes
// left. Loops over repeated fields run while it holds.
func (r *reader) more() bool { return r.err == nil && len(r.b) > 0 }

func (r *reader) empty() bool { return r.err == nil && len(r.b) == 0 }

func parseKRL(data []byte) (*List, error) {
	r := &reader{b: data[len(magic):]}
	if v := r.u32("format version"); r.err == nil && v != formatVersion {
		return nil, fmt.Errorf("%w: format version %d (want %d)", ErrFormat, v, formatVersion)
	}
	l := newList()
	l.Version = r.u64("krl version")
	r.u64("generated date")
	r.u64("flags")
	r.str("reserved")
	r.str("comment")
	for r.err == nil && len(r.b) > 0 {
		typ := r.u8("section type")
		body := r.str("section")
		if r.err != nil {
			break
		}
		if err := l.section(typ, body); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return l, nil
}

func (l *List) section(typ byte, body []byte) error {
	r := &reader{b: body}
	switch typ {
	case sectionCertificates:
		return l.certSection(r)
	case sectionExplicitKey:
		for r.more() {
			blob := r.str("explicit key")
			if r.err != nil {
				break
			}
			key, err := gossh.ParsePublicKey(blob)
			if err != nil {
				return fmt.Errorf("%w: explicit key: %v", ErrFormat, err)
			}
			l.keys[string(plain(key).Marshal())] = true
		}
	case sectionSHA1, sectionSHA256:
		size, set := sha1.Size, l.sha1
		if typ == sectionSHA256 {
			size, set = sha256.Size, l.sha2
		}
		for r.more() {
			h := r.str("key hash")
			if r.err != nil {
				break
			}
			if len(h) != size {
				return fmt.Errorf("%w: key hash of %d bytes (want %d)", ErrFormat, len(h), size)
			}
			set[string(h)] = true
		}
	case sectionSignature:
		return fmt.Errorf("%w: signed KRLs are not supported (section %d)", ErrFormat, typ)
	case sectionExtension:
		return extension(r, "")
	default:
		return fmt.Errorf("%w: unknown section type %d", ErrFormat, typ)
	}
	return r.err
}

// extension skips a non-critical extension and refuses a critical one.
func extension(r *reader, where string) error {
	name := r.str("extension name")
	critical := r.u8("extension flag")
	r.str("extension data")
	if r.err != nil {
		return r.err
	}
	if critical != 0 {
		return fmt.Errorf("%w: unsupported critical extension %q%s", ErrFormat, name, where)
	}
	if !r.empty() {
		return fmt.Errorf("%w: trailing bytes after extension %q%s", ErrFormat, name, where)
	}
	return nil
}

func (l *List) certSection(r *reader) error {
	caBlob := r.str("CA key")
	r.str("reserved")
	if r.err != nil {
		return r.err
	}
	ca := ""
	if len(caBlob) > 0 {
		key, err := gossh.ParsePublicKey(caBlob)
		if err != nil {
			return fmt.Errorf("%w: certificate section CA key: %v", ErrFormat, err)
		}
		ca = string(key.Marshal())
	}
	c := l.certs[ca]
	if c == nil {
		c = &certRevocations{serials: map[uint64]bool{}, keyIDs: map[string]bool{}}
		l.certs[ca] = c
	}
	for r.err == nil && len(r.b) > 0 {
		typ := r.u8("certificate subsection type")
		sub := &reader{b: r.str("certificate subsection")}
		if r.err != nil {
			break
		}
		switch typ {
		case certSerialList:
			for sub.more() {
				s := sub.u64("serial")
				if sub.err == nil {
					c.serials[s] = true
				}
			}
		case certSerialRange:
			lo, hi := sub.u64("serial range"), sub.u64("serial range")
			if sub.err == nil && lo > hi {
				return fmt.Errorf("%w: serial range %d-%d is backwards", ErrFormat, lo, hi)
			}
			if sub.err == nil && !sub.empty() {
				return fmt.Errorf("%w: trailing bytes after a serial range", ErrFormat)
			}
			c.ranges = append(c.ranges, [2]uint64{lo, hi})
		case certSerialBitmap:
			off := sub.u64("bitmap offset")
			bits := sub.str("bitmap")
			if sub.err == nil && len(bits) > maxBitmap {
				return fmt.Errorf("%w: serial bitmap of %d bytes, more than %d", ErrFormat, len(bits), maxBitmap)
			}
			if sub.err == nil && len(bits) > 0 && bits[0]&0x80 != 0 {
				return fmt.Errorf("%w: negative serial bitmap", ErrFormat)
			}
			if sub.err == nil && !sub.empty() {
				return fmt.Errorf("%w: trailing bytes after a serial bitmap", ErrFormat)
			}
			c.bitmaps = append(c.bitmaps, bitmap{offset: off, bits: bytes.Clone(bits)})
		case certKeyID:
			for sub.more() {
				id := sub.str("key id")
				if sub.err == nil {
					c.keyIDs[string(id)] = true
				}
			}
		case certExtension:
			if err := extension(sub, " in a certificate section"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unknown certificate subsection type %#x", ErrFormat, typ)
		}
		if sub.err != nil {
			return sub.err
		}
	}
	return r.err
}

// Revoked says whether key is revoked, and why. For a certificate that
// is its serial or key id under its CA, its key, or its CA's key being
// revoked (as sshd checks them).
func (l *List) Revoked(key gossh.PublicKey) (bool, string) {
	if l == nil {
		return false, ""
	}
	if cert, ok := key.(*gossh.Certificate); ok {
		if l.keyRevoked(cert.SignatureKey) {
			return true, "its CA key " + gossh.FingerprintSHA256(cert.SignatureKey) + " is revoked"
		}
		for _, ca := range []string{string(cert.SignatureKey.Marshal()), ""} {
			if why := l.certs[ca].revokes(cert); why != "" {
				return true, why
			}
		}
	}
	if l.keyRevoked(plain(key)) {
		return true, "key " + gossh.FingerprintSHA256(plain(key)) + " is revoked"
	}
	return false, ""
}

func (l *List) keyRevoked(key gossh.PublicKey) bool {
	blob := key.Marshal()
	h1, h2 := sha1.Sum(blob), sha256.Sum256(blob)
	return l.keys[string(blob)] || l.sha1[string(h1[:])] || l.sha2[string(h2[:])]
}

func (c *certRevocations) revokes(cert *gossh.Certificate) string {
	if c == nil {
		return ""
	}
	if c.keyIDs[cert.KeyId] {
		return fmt.Sprintf("certificate key id %q is revoked", cert.KeyId)
	}
	// Serial 0 means "no serial" (ssh-keygen -z unset); OpenSSH never
	// revokes it by serial.
	if cert.Serial == 0 {
		return ""
	}
	revoked := c.serials[cert.Serial]
	for _, rg := range c.ranges {
		revoked = revoked || (cert.Serial >= rg[0] && cert.Serial <= rg[1])
	}
	for _, b := range c.bitmaps {
		revoked = revoked || b.has(cert.Serial)
	}
	if revoked {
		return fmt.Sprintf("certificate serial %d is revoked", cert.Serial)
	}
	return ""
}
