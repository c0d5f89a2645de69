package config

import (
	"path"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/audit"
)

// Role names what a user may do at the gate.
type Role string

const (
	// RoleAdmin may run commands on the targets their globs allow.
	RoleAdmin Role = "admin"
	// RoleApprover may register a TOTP secret and approve held requests.
	RoleApprover Role = "approver"
	// RoleAuditor sees every request and audit event (mpa requests
	// list|view, mpa audit list|export) and changes nothing. Admins see
	// only their own; approvers what they may approve.
	RoleAuditor Role = "auditor"
)

// JoinRoles writes roles as keyturn.yaml spells them, separated by sep.
func JoinRoles(roles []Role, sep string) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, sep)
}

// Config is the gate's configuration as read from keyturn.yaml.
// Relative paths in it are resolved against the file's directory.
type Config struct {
	// Name names this gate where people see it next to other gates: the
	// issuer of approvers' TOTP entries ("keyturn (NAME)") and the Host
	// alias and HostKeyAlias of 'ssh-config'. Default "keyturn".
	Name string `yaml:"name"`
	// Listen is the address the gate's SSH server binds.
	Listen string `yaml:"listen"`
	// DataDir holds the store and the gate's own keys.
	DataDir string `yaml:"data_dir"`
	// Policies is the policies.yaml the gate enforces.
	Policies string `yaml:"policies"`
	// GateID names this gate among the gates sharing a store: required
	// with the etcd backend, where one live gate may hold it at a time.
	GateID string `yaml:"gate_id"`
	// ShutdownGrace is how long running sessions may go on after SIGTERM.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// MaxCommandLine bounds the command line a session may send (ssh
	// USER+TARGET@gate 'LINE', and the gate's own commands). A longer line
	// is refused before it is decided or recorded.
	MaxCommandLine ByteSize `yaml:"max_command_line"`
	Users          []User   `yaml:"users"`
	Targets        []Target `yaml:"targets"`
	Store          Store    `yaml:"store"`
	TOTP           TOTP     `yaml:"totp"`
	// Metrics serves Prometheus metrics; off unless Metrics.Listen is set.
	Metrics Metrics `yaml:"metrics"`
	// Audit configures the audit trail's mirror file.
	Audit Audit `yaml:"audit"`
	// Webhooks are told about request changes.
	Webhooks []Webhook `yaml:"webhooks"`
	// UserCAKeys are the public keys of the certificate authorities whose
	// user certificates log in (see certs.go), as "type base64" lines.
	UserCAKeys []string `yaml:"user_ca_keys"`
	// UserCAKeysFile is a file of more CA keys, one a line, as sshd's
	// TrustedUserCAKeys.
	UserCAKeysFile string `yaml:"user_ca_keys_file"`
	// RevokedKeys is an OpenSSH KRL or a plain list of public keys that
	// may not log in, as sshd's RevokedKeys; the gate re-reads it when it
	// changes.
	RevokedKeys string `yaml:"revoked_keys"`
	// Output configures the kept output of released commands.
	Output ReleasedOutput `yaml:"output"`
	// Limits bound what clients and targets can make the gate hold.
	Limits Limits `yaml:"limits"`

	// path is the file this config came from, for messages.
	path string
	// userCAs are UserCAKeys and the keys of UserCAKeysFile, parsed.
	userCAs []parsedKey
}

// User is someone who may log in to the gate.
type User struct {
	Name  string `yaml:"name"`
	Roles []Role `yaml:"roles"`
	// Keys are authorized_keys lines.
	Keys []string `yaml:"keys"`
	// AuthorizedKeys is a path to an authorized_keys file, read at load.
	AuthorizedKeys string `yaml:"authorized_keys"`
	// Targets are path.Match globs of the targets this user may reach.
	Targets []string `yaml:"targets"`
	// Principals are the certificate principals that are this user
	// (default: the user's name). They matter only with user_ca_keys.
	Principals []string `yaml:"principals"`
	// Groups name the teams the user approves for, as the policy's
	// approvers rules name them (groups: [storage, oncall-db]).
	Groups []string `yaml:"groups"`

	keys []parsedKey
}

// Target is a host the gate logs in to on its users' behalf.
type Target struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// User is the login name on the target.
	User string `yaml:"user"`
	// HostKeys are the target's accepted host keys, as "type base64" lines.
	HostKeys []string `yaml:"host_keys"`
	// KnownHosts is a path to a known_hosts file holding the target's keys.
	KnownHosts string `yaml:"known_hosts"`
	// Guard says the target's login shell is keyturn-guard: commands go
	// to it as signed grants, and what it blocks becomes a held request.
	Guard bool `yaml:"guard"`
	// RequireGuard refuses the target unless its login answers as
	// keyturn-guard when the gate connects; it implies Guard.
	RequireGuard bool `yaml:"require_guard"`
	// Shell is the bash the gate runs every command line with on this
	// target (exec SHELL --norc --noprofile -c 'LINE'), whatever the login
	// shell is, so the line runs as the policy read it. Empty means
	// /bin/bash.
	Shell string `yaml:"shell"`
	// ShellWrapper says when the gate wraps a line in Shell as above:
	// "auto" (the default) sends the line as it is once a probe on the
	// pooled connection has shown that the login shell is that bash with
	// nothing of its own (no function, alias, trap, option or variable
	// a fresh `SHELL --norc --noprofile -c` lacks), so it reads the line
	// exactly as the wrapper's bash would; "always" wraps every line.
	// Empty (a Target built in code) means always.
	ShellWrapper string `yaml:"shell_wrapper"`
}

// Values of Target.ShellWrapper.
const (
	ShellWrapperAuto   = "auto"
	ShellWrapperAlways = "always"
)

// Guarded reports whether commands for the target go through keyturn-guard.
func (t *Target) Guarded() bool { return t.Guard || t.RequireGuard }

// Store configures the store: Badger in the data dir (the default), or
// an etcd cluster that several gates share.
type Store struct {
	// EncryptionKeyFile holds a 16, 24 or 32 byte AES key. With Badger
	// the whole store is encrypted at rest with it; with etcd (which has
	// no encryption at rest) it seals approvers' TOTP secrets before they
	// leave the gate, and is required.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// Backend is "badger" (default) or "etcd".
	Backend string `yaml:"backend"`
	// Endpoints are the etcd members' client URLs (etcd only).
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key in etcd, so that several
	// installations can share one cluster; it ends with "/".
	Prefix string `yaml:"prefix"`
	// TLS is the client's mutual TLS to etcd. Required unless every
	// endpoint is on loopback.
	TLS StoreTLS `yaml:"tls"`
	// LeaseTTL is the etcd lease under a gate's membership and its
	// leaderships (etcd only; whole seconds, MinLeaseTTL to MaxLeaseTTL,
	// DefaultLeaseTTL when unset). A gate that stops answering is seen
	// gone this long after: its gate_id is free again, its running
	// commands are marked Interrupted and the webhooks lead moves. Shorter
	// notices a dead gate sooner; longer rides out longer pauses (a slow
	// etcd, a stalled VM) without losing the membership.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// Reserve is the free space the store keeps on the data dir's file
	// system. Below it, the gate refuses work that needs a record (new
	// sessions, votes) and keeps serving reads, until space returns: the
	// store's memory-mapped files must never meet a full disk.
	Reserve ByteSize `yaml:"reserve"`
}

// StoreTLS names the files for mutual TLS to etcd.
type StoreTLS struct {
	CA   string `yaml:"ca"`   // the CA that signed the members' certificates
	Cert string `yaml:"cert"` // this gate's client certificate
	Key  string `yaml:"key"`  // its private key
}

// Store backends.
const (
	BackendBadger = "badger"
	BackendEtcd   = "etcd"
)

// DefaultEtcdPrefix is the key prefix when store.prefix is not set.
const DefaultEtcdPrefix = "/keyturn/"

// Bounds and default of store.lease_ttl. Below 2 s a lease would end on
// an ordinary etcd leader election (about 1 s with etcd's defaults, and
// etcd refuses shorter leases than its election needs); above 5 minutes a
// dead gate's commands would show Executing for too long.
const (
	DefaultLeaseTTL = Duration(10 * time.Second)
	MinLeaseTTL     = Duration(2 * time.Second)
	MaxLeaseTTL     = Duration(5 * time.Minute)
)

// TOTP configures approvers' one-time codes.
type TOTP struct {
	// LockoutThreshold is how many failed codes in a row lock an approver out.
	LockoutThreshold int `yaml:"lockout_threshold"`
	// LockoutDuration is how long a lockout lasts.
	LockoutDuration Duration `yaml:"lockout_duration"`
}

// Metrics configures the Prometheus listener.
type Metrics struct {
	// Listen is the host:port serving /metrics and /healthz. Empty turns
	// metrics off. It is a separate listener from the SSH one so that it
	// can be bound to a monitoring network or to loopback alone.
	Listen string `yaml:"listen"`
}

// Audit configures where the audit trail is copied besides the store.
type Audit struct {
	// File, if set, receives every audit event as a JSON line as it is
	// written (the format of 'mpa audit export'), so that a log shipper
	// can follow it and an auditor can verify it offline.
	File string `yaml:"file"`
}

// Webhook is an HTTP endpoint told about request changes.
type Webhook struct {
	// Name labels the endpoint in logs and metrics; the URL's host by
	// default. URLs often carry a token, so they are never logged.
	Name string `yaml:"name"`
	// URL receives a POST of one JSON object per event.
	URL string `yaml:"url"`
	// SecretFile holds the HMAC-SHA256 key the body is signed with
	// (surrounding white space is ignored).
	SecretFile string `yaml:"secret_file"`
	// Events limits what is sent (request.created, request.approved, ...);
	// empty sends every event.
	Events []string `yaml:"events"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout Duration `yaml:"timeout"`
	// Attempts is how many times a delivery is tried before it is given up
	// (default 5), with exponential backoff between attempts.
	Attempts int `yaml:"attempts"`
	// Queue is how many undelivered events are kept; when it is full the
	// oldest is dropped (default 256).
	Queue int `yaml:"queue"`

	secret []byte
}

// Secret returns the key read from SecretFile when the config was loaded.
func (w *Webhook) Secret() []byte { return w.secret }

// WebhookEvents are the events a webhook may be sent, in lifecycle order.
var WebhookEvents = []string{
	audit.KindRequestCreated, audit.KindRequestApproved, audit.KindRequestRejected, audit.KindRequestCancelled,
	audit.KindRequestExpired, audit.KindRequestCompleted, audit.KindRequestInterrupted,
}

// Defaults fill what a config leaves out.
const (
	DefaultListen        = "127.0.0.1:2222"
	DefaultDataDir       = "./keyturn-data"
	DefaultPolicies      = "./policies.yaml"
	DefaultShutdownGrace = 30 * time.Second
	// DefaultMaxCommandLine is 64 KiB: far beyond any command typed or
	// scripted by hand, far below what would strain the gate.
	DefaultMaxCommandLine = 64 << 10
	// MaxCommandLineLimit is the most max_command_line may be: an SSH
	// packet (256 KiB) cannot carry more anyway.
	MaxCommandLineLimit = 256 << 10
	// DefaultReserve is the store's default free-space reserve.
	DefaultReserve    = 128 << 20
	DefaultLockout    = 5
	DefaultLockoutFor = 5 * time.Minute

	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookAttempts = 5
	DefaultWebhookQueue    = 256
)

// Path is the file the config was loaded from.
func (c *Config) Path() string { return c.path }

// User returns the named user.
func (c *Config) User(name string) (*User, bool) {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i], true
		}
	}
	return nil, false
}

// Target returns the named target.
func (c *Config) Target(name string) (*Target, bool) {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i], true
		}
	}
	return nil, false
}

// HasRole reports whether the user holds role.
func (u *User) HasRole(role Role) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// CanReach reports whether one of the user's target globs matches target.
func (u *User) CanReach(target string) bool {
	for _, g := range u.Targets {
		if ok, _ := path.Match(g, target); ok {
			return true
		}
	}
	return false
}
