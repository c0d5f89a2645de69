package config

import "time"

// Limits bound what one client, or one target, can make the gate hold.
// Every field is optional: zero means the default below, so a config that
// has no limits block gets them all.
type Limits struct {
	// LoginGraceTime bounds the SSH handshake and authentication: a
	// connection that has not authenticated and opened its first channel
	// within it is closed (sshd's LoginGraceTime).
	LoginGraceTime Duration `yaml:"login_grace_time"`
	// MaxConnections is how many client connections the gate holds at
	// once, authenticated or not; more are refused at accept.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerUser is how many authenticated connections one user
	// may hold at once; past it a new one is closed with a message, so
	// that one key cannot take every connection the gate has.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
	// MaxUnauthenticatedPerSource is how many not yet authenticated
	// connections one source address may hold. A new one past it evicts
	// that source's oldest connection that has sent nothing yet, or is
	// refused when all of them are talking (sshd's MaxStartups, per
	// address).
	MaxUnauthenticatedPerSource int `yaml:"max_unauthenticated_per_source"`
	// MaxTargetConnections is how many SSH connections the gate opens to
	// one target. A target that refuses a new session on a connection
	// (sshd's MaxSessions) gets another connection, up to this many.
	MaxTargetConnections int `yaml:"max_target_connections"`
	// MaxSessionsPerConnection is how many sessions one client connection
	// may have open at once (sshd's MaxSessions); more are refused.
	// OpenSSH's connection sharing (ControlMaster) opens each command as
	// a session on one connection.
	MaxSessionsPerConnection int `yaml:"max_sessions_per_connection"`
	// MaxEnv is how many env requests a session may make; later ones
	// are refused and dropped.
	MaxEnv int `yaml:"max_env"`
	// MaxRequestBytes bounds the payload of a session request other than
	// exec (env, pty-req, window-change, signal, ...): a bigger one is
	// refused.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxRequestsBeforeExec is how many requests a session may make
	// before exec or shell; past it the session is closed with a message.
	MaxRequestsBeforeExec int `yaml:"max_requests_before_exec"`
}

// Default limits.
const (
	DefaultLoginGraceTime              = 30 * time.Second
	DefaultMaxConnections              = 1024
	DefaultMaxConnectionsPerUser       = 64
	DefaultMaxUnauthenticatedPerSource = 32
	DefaultMaxTargetConnections        = 8
	DefaultMaxSessionsPerConnection    = 16
	DefaultMaxEnv                      = 64
	DefaultMaxRequestBytes             = 16 << 10
	DefaultMaxRequestsBeforeExec       = 256
)

// Effective returns l with the defaults in place of zero fields.
func (l Limits) Effective() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, DefaultMaxConnections)
	def(&l.MaxConnectionsPerUser, DefaultMaxConnectionsPerUser)
	def(&l.MaxUnauthenticatedPerSource, DefaultMaxUnauthenticatedPerSource)
	def(&l.MaxTargetConnections, DefaultMaxTargetConnections)
	def(&l.MaxSessionsPerConnection, DefaultMaxSessionsPerConnection)
	def(&l.MaxEnv, DefaultMaxEnv)
	def(&l.MaxRequestBytes, DefaultMaxRequestBytes)
	def(&l.MaxRequestsBeforeExec, DefaultMaxRequestsBeforeExec)
	if l.LoginGraceTime <= 0 {
		l.LoginGraceTime = Duration(DefaultLoginGraceTime)
	}
	return l
}

// checkLimits refuses negative counts: zero means the default, a negative
// number is a mistake.
func (v *validator) checkLimits(l *Limits) {
	for _, f := range []struct {
		name string
		n    int
	}{
		{"max_connections", l.MaxConnections},
		{"max_connections_per_user", l.MaxConnectionsPerUser},
		{"max_unauthenticated_per_source", l.MaxUnauthenticatedPerSource},
		{"max_target_connections", l.MaxTargetConnections},
		{"max_sessions_per_connection", l.MaxSessionsPerConnection},
		{"max_env", l.MaxEnv},
		{"max_request_bytes", l.MaxRequestBytes},
		{"max_requests_before_exec", l.MaxRequestsBeforeExec},
	} {
		if f.n < 0 {
			v.errorf(v.at("limits."+f.name), "limits.%s: want a positive number (0 for the default), got %d", f.name, f.n)
		}
	}
}
