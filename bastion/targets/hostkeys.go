package targets

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyChecker accepts exactly the host keys configured for one target.
type hostKeyChecker struct {
	target     string
	keys       []gossh.PublicKey
	knownHosts gossh.HostKeyCallback // nil unless the target names a known_hosts file
}

func newHostKeyChecker(target string, lines []string, knownHostsFile string) (*hostKeyChecker, error) {
	c := &hostKeyChecker{target: target}
	for _, line := range lines {
		key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("target %s: host key %q: %w", target, line, err)
		}
		c.keys = append(c.keys, key)
	}
	if knownHostsFile != "" {
		cb, err := knownhosts.New(knownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("target %s: known_hosts: %w", target, err)
		}
		c.knownHosts = cb
	}
	return c, nil
}

// check is a gossh.HostKeyCallback. Its error names the target and both
// fingerprints, since a mismatch is either an attack or a rebuilt host and
// the operator needs to tell which.
func (c *hostKeyChecker) check(hostname string, remote net.Addr, key gossh.PublicKey) error {
	presented := key.Marshal()
	for _, k := range c.keys {
		if bytes.Equal(k.Marshal(), presented) {
			return nil
		}
	}
	want := make([]string, 0, len(c.keys))
	for _, k := range c.keys {
		want = append(want, k.Type()+" "+gossh.FingerprintSHA256(k))
	}
	if c.knownHosts != nil {
		err := c.knownHosts(hostname, remote, key)
		if err == nil {
			return nil
		}
		if ke, ok := err.(*knownhosts.KeyError); ok {
			for _, k := range ke.Want {
				want = append(want, k.Key.Type()+" "+gossh.FingerprintSHA256(k.Key))
			}
		}
	}
	if len(want) == 0 {
		want = append(want, "none configured")
	}
	return &HostKeyError{
		Target:    c.target,
		Presented: key.Type() + " " + gossh.FingerprintSHA256(key),
		Want:      want,
	}
}

// algorithms lists the host key algorithms that can match the configured
// keys, so that a target with several host keys shows the one we know.
// With a known_hosts file the choice is left to the defaults.
func (c *hostKeyChecker) algorithms() []string {
	if c.knownHosts != nil {
		return nil
	}
	var algos []string
	for _, k := range c.keys {
		switch t := k.Type(); t {
		case gossh.KeyAlgoRSA:
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// HostKeyError is a target that showed a host key the gate does not trust.
type HostKeyError struct {
	Target    string
	Presented string   // type and SHA-256 fingerprint of the key shown
	Want      []string // the keys configured for the target
}

func (e *HostKeyError) Error() string {
	return fmt.Sprintf("target %s presented host key %s; want %s", e.Target, e.Presented, strings.Join(e.Want, " or "))
}
