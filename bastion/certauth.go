package bastion

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/krl"
)

// Certificate critical options and extensions the gate knows. A critical
// option it does not enforce refuses the login, as sshd refuses one it does
// not know: a CA that wrote force-command meant the holder to run that
// command alone, and the gate would not hold them to it.
const (
	optSourceAddress = "source-address"
	optForceCommand  = "force-command"
	extPermitPTY     = "permit-pty"
)

// CertInfo is what the gate keeps of the certificate a session logged in
// with: enough for the audit trail to say which certificate it was and
// for the session to be held to its extensions.
type CertInfo struct {
	KeyID  string `json:"key_id"`
	Serial uint64 `json:"serial"`
	// CA is the SHA-256 fingerprint of the CA key that signed it.
	CA string `json:"ca"`
	// Principal is the certificate principal that made it this user's.
	Principal  string    `json:"principal"`
	ValidAfter time.Time `json:"valid_after"`
	// ValidBefore is zero for a certificate that never expires.
	ValidBefore time.Time `json:"valid_before,omitzero"`
	// Extensions are the certificate's extension names (permit-pty, ...).
	Extensions []string `json:"extensions,omitempty"`
}

// Permits reports whether the certificate carries extension ext.
func (c *CertInfo) Permits(ext string) bool {
	for _, e := range c.Extensions {
		if e == ext {
			return true
		}
	}
	return false
}

// String describes the certificate in one line, for people.
func (c *CertInfo) String() string {
	until := "forever"
	if !c.ValidBefore.IsZero() {
		until = c.ValidBefore.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("certificate %q serial %d from CA %s, valid %s to %s", c.KeyID, c.Serial, c.CA,
		c.ValidAfter.UTC().Format(time.RFC3339), until)
}

// refusal says which rule refused a login, for the log.
type refusal struct {
	Rule   string // a short fixed name: untrusted-ca, expired, revoked, ...
	Detail string
}

func (r *refusal) Error() string { return "login refused (" + r.Rule + "): " + r.Detail }

func refuse(rule, format string, args ...any) *refusal {
	return &refusal{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// ruleText is a rule's name for the log message.
func ruleText(rule string) string {
	switch rule {
	case "unknown-user":
		return "unknown user"
	case "key-not-registered":
		return "key not registered for user"
	}
	return strings.ReplaceAll(rule, "-", " ")
}

// authenticator decides which keys and certificates log in.
type authenticator struct {
	cfg     *config.Config
	log     *slog.Logger
	now     func() time.Time
	revoked *revocations
}

func newAuthenticator(cfg *config.Config, log *slog.Logger, now func() time.Time) *authenticator {
	if now == nil {
		now = time.Now
	}
	return &authenticator{cfg: cfg, log: log, now: now, revoked: &revocations{path: cfg.RevokedKeys}}
}

// check decides whether key may log in as login from remote. For a
// certificate it returns what the session keeps of it.
func (a *authenticator) check(login string, remote net.Addr, key gossh.PublicKey) (*CertInfo, *refusal) {
	user, _ := splitLogin(login)
	u, ok := a.cfg.User(user)
	if !ok {
		return nil, refuse("unknown-user", "no user %q", user)
	}
	list, err := a.revoked.current()
	if err != nil {
		// sshd refuses every key when its RevokedKeys cannot be read; a
		// revocation the gate cannot see must not let the key in.
		return nil, refuse("revoked-keys-unreadable", "%v", err)
	}
	if revoked, why := list.Revoked(key); revoked {
		return nil, refuse("revoked", "%s", why)
	}
	cert, isCert := key.(*gossh.Certificate)
	if !isCert {
		if !u.HasKey(key) {
			return nil, refuse("key-not-registered", "key not registered for user %s", user)
		}
		return nil, nil
	}
	return a.checkCert(u, remote, cert)
}

func (a *authenticator) checkCert(u *config.User, remote net.Addr, cert *gossh.Certificate) (*CertInfo, *refusal) {
	if cert.CertType != gossh.UserCert {
		return nil, refuse("not-a-user-certificate", "certificate type %d is not a user certificate (a host certificate?)", cert.CertType)
	}
	if !a.cfg.IsUserCA(cert.SignatureKey) {
		return nil, refuse("untrusted-ca", "signed by %s, not a user_ca_keys CA", gossh.FingerprintSHA256(cert.SignatureKey))
	}
	if len(cert.ValidPrincipals) == 0 {
		// A certificate without principals is valid for anyone to
		// x/crypto; sshd requires one, and so does the gate.
		return nil, refuse("no-principals", "the certificate names no principal")
	}
	principal := ""
	for _, p := range cert.ValidPrincipals {
		if u.HasPrincipal(p) {
			principal = p
			break
		}
	}
	if principal == "" {
		return nil, refuse("principal-not-user", "principals %q: none is user %s's (their principals: %q)", cert.ValidPrincipals, u.Name, u.PrincipalNames())
	}
	now := a.now()
	after, before := certTime(cert.ValidAfter), certTime(cert.ValidBefore)
	if cert.ValidAfter > 1<<63-1 || now.Add(config.CertClockSkew).Before(after) {
		return nil, refuse("not-yet-valid", "valid from %s, the gate's clock says %s", after.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if cert.ValidBefore != gossh.CertTimeInfinity && !now.Add(-config.CertClockSkew).Before(before) {
		return nil, refuse("expired", "expired %s, the gate's clock says %s", before.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if cert.ValidBefore <= cert.ValidAfter {
		return nil, refuse("expired", "empty validity window")
	}
	for opt, val := range cert.CriticalOptions {
		switch opt {
		case optSourceAddress:
			if err := checkSourceAddress(remote, val); err != nil {
				return nil, refuse("source-address", "%v", err)
			}
		case optForceCommand:
			return nil, refuse("force-command", "the certificate forces the command %q, which the gate does not enforce", val)
		default:
			return nil, refuse("critical-option", "unknown critical option %q", opt)
		}
	}
	// x/crypto checks the CA's signature; its clock is set inside the
	// window, since the gate has just checked the window itself with
	// the skew. Principals and critical options are checked again, to
	// the same result.
	inside := now
	if inside.Before(after) {
		inside = after
	}
	if cert.ValidBefore != gossh.CertTimeInfinity && !inside.Before(before) {
		inside = before.Add(-time.Second)
	}
	checker := gossh.CertChecker{
		SupportedCriticalOptions: []string{optSourceAddress},
		Clock:                    func() time.Time { return inside },
	}
	if err := checker.CheckCert(principal, cert); err != nil {
		return nil, refuse("bad-certificate", "%v", err)
	}
	info := &CertInfo{
		KeyID: cert.KeyId, Serial: cert.Serial, CA: gossh.FingerprintSHA256(cert.SignatureKey),
		Principal: principal, ValidAfter: after,
	}
	if cert.ValidBefore != gossh.CertTimeInfinity {
		info.ValidBefore = before
	}
	for ext := range cert.Extensions {
		info.Extensions = append(info.Extensions, ext)
	}
	sort.Strings(info.Extensions)
	return info, nil
}

// certTime turns a certificate timestamp into a time; past year 9999 it
// is capped, which changes no decision.
func certTime(t uint64) time.Time {
	const max = 253402300799 // 9999-12-31T23:59:59Z
	if t > max {
		t = max
	}
	return time.Unix(int64(t), 0)
}

// checkSourceAddress enforces a source-address option: a comma-separated
// list of addresses and CIDR ranges, as OpenSSH writes it.
func checkSourceAddress(remote net.Addr, list string) error {
	tcp, ok := remote.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("cannot tell the client's address (%v)", remote)
	}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if strings.Contains(entry, "/") {
			_, network, err := net.ParseCIDR(entry)
			if err != nil {
				return fmt.Errorf("source-address %q: bad entry %q", list, entry)
			}
			if network.Contains(tcp.IP) {
				return nil
			}
			continue
		}
		ip := net.ParseIP(entry)
		if ip == nil {
			return fmt.Errorf("source-address %q: bad entry %q", list, entry)
		}
		if ip.Equal(tcp.IP) {
			return nil
		}
	}
	return fmt.Errorf("client address %s is not in source-address %q", tcp.IP, list)
}

func (a *authenticator) logRefusal(login string, remote net.Addr, key gossh.PublicKey, r *refusal) {
	user, target := splitLogin(login)
	args := []any{"rule", r.Rule, "why", r.Detail, "user", user, "target", target, "login", login, "remote", remote.String()}
	if cert, ok := key.(*gossh.Certificate); ok {
		args = append(args, "key", gossh.FingerprintSHA256(cert.Key), "cert_id", cert.KeyId, "cert_serial", cert.Serial,
			"cert_ca", gossh.FingerprintSHA256(cert.SignatureKey))
	} else {
		args = append(args, "key", gossh.FingerprintSHA256(key))
	}
	a.log.Warn("login refused: "+ruleText(r.Rule), args...)
}

// verifiedPermissions is the ServerConfig.VerifiedPublicKeyCallback. It
// runs once the client has proven it holds the key, and only then, so the
// permissions it returns describe the key that authenticated. gliderlabs
// shares one Permissions value across every key a client offers (including
// keys it only asked about), which is why identity is not taken from
// there. The key is checked again: the revocation list may have changed
// since the client asked about it.
func (a *authenticator) verifiedPermissions(conn gossh.ConnMetadata, key gossh.PublicKey, _ *gossh.Permissions, _ string) (*gossh.Permissions, error) {
	cert, r := a.check(conn.User(), conn.RemoteAddr(), key)
	if r != nil {
		a.logRefusal(conn.User(), conn.RemoteAddr(), key, r)
		return nil, r
	}
	perms := &gossh.Permissions{Extensions: map[string]string{
		extLogin:       conn.User(),
		extFingerprint: gossh.FingerprintSHA256(key),
		extKey:         base64.StdEncoding.EncodeToString(key.Marshal()),
	}}
	if cert != nil {
		data, err := json.Marshal(cert)
		if err != nil {
			return nil, fmt.Errorf("encode certificate identity: %w", err)
		}
		perms.Extensions[extFingerprint] = gossh.FingerprintSHA256(key.(*gossh.Certificate).Key)
		perms.Extensions[extCert] = string(data)
	}
	return perms, nil
}

// recheck checks the key a session's connection logged in with again, now:
// the revocation list, the certificate's validity and the config are as
// they are at this session's start, not at the login.
func (a *authenticator) recheck(s ssh.Session) *refusal {
	sc, ok := s.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || sc.Permissions == nil {
		return refuse("no-identity", "the connection has no verified key")
	}
	blob, err := base64.StdEncoding.DecodeString(sc.Permissions.Extensions[extKey])
	if err != nil || len(blob) == 0 {
		return refuse("no-identity", "the connection's key is not recorded")
	}
	key, err := gossh.ParsePublicKey(blob)
	if err != nil {
		return refuse("no-identity", "the connection's key does not parse")
	}
	_, r := a.check(sc.User(), sc.RemoteAddr(), key)
	return r
}

// revocations is the revoked_keys file, read again whenever its size,
// modification time or inode changes. A file that cannot be read or
// parsed refuses every key until it is fixed.
type revocations struct {
	path string

	mu   sync.Mutex
	seen os.FileInfo
	list *krl.List
	err  error
}

func (r *revocations) current() (*krl.List, error) {
	if r == nil || r.path == "" {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		r.seen, r.list, r.err = nil, nil, fmt.Errorf("revoked_keys: %w", err)
		return nil, r.err
	}
	if r.seen != nil && os.SameFile(fi, r.seen) && fi.Size() == r.seen.Size() && fi.ModTime().Equal(r.seen.ModTime()) {
		return r.list, r.err
	}
	list, err := config.ReadRevokedKeys(r.path)
	if err != nil {
		err = fmt.Errorf("revoked_keys: %w", err)
	}
	r.seen, r.list, r.err = fi, list, err
	return list, err
}

// certOf reads the certificate a connection logged in with, if any. ok is
// false when the record is there but cannot be read.
func certOf(perms *gossh.Permissions) (*CertInfo, bool) {
	raw, has := perms.Extensions[extCert]
	if !has {
		return nil, true
	}
	var c CertInfo
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, false
	}
	return &c, true
}

// certLine is how a request shows its requester's certificate; "" for a
// plain key.
func certLine(c *CertInfo) string {
	if c == nil {
		return ""
	}
	return c.String()
}
