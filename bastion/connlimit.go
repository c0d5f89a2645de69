package bastion

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/prometheus/client_golang/prometheus"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/config"
)

// Reasons a client connection is refused or closed before it
// authenticated, as the refused-connections metric labels them.
const (
	refusedFull       = "max_connections"                // the gate holds max_connections
	refusedSource     = "max_unauthenticated_per_source" // the source's slots are all talking
	refusedUser       = "max_connections_per_user"       // the user holds as many as allowed
	evictedSilent     = "evicted"                        // a silent connection made room for a new one
	closedLoginGrace  = "login_grace_time"               // not authenticated in time
	connLimiterPrefix = "keyturn_client_connections"
)

// connLimiter keeps the gate's client connections within config.Limits:
// a deadline on the handshake and authentication (login_grace_time), a
// number of not yet authenticated connections per source address, and a
// number of connections overall.
//
// An authenticated connection counts for its user, up to
// max_connections_per_user, so that one key cannot hold every connection.
//
// A connection counts as authenticated once it opens its first channel or
// sends its first global request, which x/crypto delivers only after
// authentication. Until then it is "unauthenticated", and may be evicted:
// when a source has used its slots, or the gate all of its connections, a
// new connection closes the oldest one that has not sent a byte (an idle
// TCP connection: nothing a real client leaves). A flood of idle
// connections thus never locks out a real client, even from the same
// address; a flood of talking ones locks out only its own address until
// their grace time ends.
type connLimiter struct {
	grace     time.Duration
	max       int
	perSource int
	perUser   int
	log       *slog.Logger
	refused   *prometheus.CounterVec

	mu     sync.Mutex
	open   int
	unauth map[string][]*limitedConn // by source address, oldest first
	users  map[string]int            // authenticated connections by user
}

func newConnLimiter(lim config.Limits, log *slog.Logger) *connLimiter {
	return &connLimiter{
		grace:     lim.LoginGraceTime.Std(),
		max:       lim.MaxConnections,
		perSource: lim.MaxUnauthenticatedPerSource,
		perUser:   lim.MaxConnectionsPerUser,
		log:       log,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: connLimiterPrefix + "_refused_total",
			Help: "Client connections refused or closed by a limit, by reason (max_connections, max_unauthenticated_per_source, max_connections_per_user, evicted, login_grace_time).",
		}, []string{"reason"}),
		unauth: make(map[string][]*limitedConn),
		users:  make(map[string]int),
	}
}

// register adds the limiter's metrics to reg: the refusals, and the
// connections open now.
func (l *connLimiter) register(reg prometheus.Registerer) error {
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: connLimiterPrefix,
		Help: "Client connections the gate holds now, authenticated or not.",
	}, func() float64 { return float64(l.Open()) })
	if err := reg.Register(open); err != nil {
		return err
	}
	return reg.Register(l.refused)
}

// Open is how many client connections the gate holds.
func (l *connLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

type limitedConnKey struct{}

// accept is the server's ConnCallback: it admits nc (returning its
// wrapper) or refuses it (nil; gliderlabs closes it).
func (l *connLimiter) accept(ctx ssh.Context, nc net.Conn) net.Conn {
	source := sourceOf(nc.RemoteAddr())
	c := &limitedConn{Conn: nc, l: l, source: source, deadline: time.Now().Add(l.grace)}
	var evict *limitedConn
	l.mu.Lock()
	if len(l.unauth[source]) >= l.perSource {
		if evict = silentIn(l.unauth[source]); evict == nil {
			l.mu.Unlock()
			l.refuse(refusedSource, source)
			return nil
		}
		l.forgetLocked(evict)
	}
	if l.open >= l.max {
		if evict == nil {
			for _, list := range l.unauth {
				if c := silentIn(list); c != nil && (evict == nil || c.deadline.Before(evict.deadline)) {
					evict = c
				}
			}
		}
		if evict == nil {
			l.mu.Unlock()
			l.refuse(refusedFull, source)
			return nil
		}
		l.forgetLocked(evict)
	}
	l.open++
	c.counted = true
	l.unauth[source] = append(l.unauth[source], c)
	if evict != nil {
		// Counted with the open count it lowered, so the two never
		// disagree for a reader (the metric or a test).
		l.refused.WithLabelValues(evictedSilent).Inc()
	}
	l.mu.Unlock()
	if evict != nil {
		evict.Conn.Close()
	}
	c.SetDeadline(time.Time{}) // the grace deadline
	ctx.SetValue(limitedConnKey{}, c)
	return c
}

func (l *connLimiter) refuse(reason, source string) {
	l.refused.WithLabelValues(reason).Inc()
	l.log.Warn("client connection refused", "reason", reason, "source", source)
}

// silentIn returns the oldest connection in list that has sent nothing:
// not read by the gate, and nothing waiting to be read.
func silentIn(list []*limitedConn) *limitedConn {
	for _, c := range list {
		if c.spoke.Load() {
			continue
		}
		if pendingInput(c.Conn) {
			c.spoke.Store(true)
			continue
		}
		return c
	}
	return nil
}

// forgetLocked removes c from the counts; l.mu is held.
func (l *connLimiter) forgetLocked(c *limitedConn) {
	l.dropUnauthLocked(c)
	if c.counted {
		c.counted = false
		l.open--
	}
	if c.user != "" {
		if l.users[c.user]--; l.users[c.user] <= 0 {
			delete(l.users, c.user)
		}
		c.user = ""
	}
}

func (l *connLimiter) dropUnauthLocked(c *limitedConn) {
	list := l.unauth[c.source]
	for i, x := range list {
		if x == c {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.unauth, c.source)
	} else {
		l.unauth[c.source] = list
	}
}

// authenticated lifts the grace deadline of the connection ctx belongs to,
// frees its unauthenticated slot and counts it for its user. It is false
// when the user already holds max_connections_per_user connections: the
// caller refuses and the connection is closed.
func (l *connLimiter) authenticated(ctx ssh.Context) bool {
	c, ok := ctx.Value(limitedConnKey{}).(*limitedConn)
	if !ok {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authed {
		return true
	}
	user, _ := splitLogin(ctx.User())
	l.mu.Lock()
	if l.users[user] >= l.perUser {
		l.mu.Unlock()
		l.refused.WithLabelValues(refusedUser).Inc()
		l.log.Warn("client connection refused: too many for one user", "user", user, "source", c.source, "limit", l.perUser)
		return false
	}
	c.authed = true
	l.dropUnauthLocked(c)
	if c.counted {
		c.user = user
		l.users[user]++
	}
	l.mu.Unlock()
	c.Conn.SetDeadline(time.Time{})
	return true
}

// channels wraps the server's channel handlers so that a first channel
// marks its connection authenticated.
func (l *connLimiter) channels(hs map[string]ssh.ChannelHandler) map[string]ssh.ChannelHandler {
	out := make(map[string]ssh.ChannelHandler, len(hs))
	for name, h := range hs {
		out[name] = func(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
			if !l.authenticated(ctx) {
				user, _ := splitLogin(conn.User())
				nc.Reject(gossh.ResourceShortage, fmt.Sprintf("keyturn: %s already has %d connections to the gate", user, l.perUser))
				conn.Close()
				return
			}
			h(srv, conn, nc, ctx)
		}
	}
	return out
}

// requests does the same for global request handlers.
func (l *connLimiter) requests(hs map[string]ssh.RequestHandler) map[string]ssh.RequestHandler {
	out := make(map[string]ssh.RequestHandler, len(hs))
	for name, h := range hs {
		out[name] = func(ctx ssh.Context, srv *ssh.Server, req *gossh.Request) (bool, []byte) {
			if !l.authenticated(ctx) {
				if conn, ok := ctx.Value(ssh.ContextKeyConn).(gossh.Conn); ok {
					conn.Close()
				}
				return false, nil
			}
			return h(ctx, srv, req)
		}
	}
	return out
}

// limitedConn is a client connection under a connLimiter.
type limitedConn struct {
	net.Conn
	l        *connLimiter
	source   string
	deadline time.Time // the end of its login grace time
	spoke    atomic.Bool
	sessions atomic.Int32 // open session channels
	counted  bool         // in l.open; guarded by l.mu
	user     string       // counted in l.users; guarded by l.mu
	closed   sync.Once

	mu     sync.Mutex
	authed bool
}

func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
	}
	if err != nil && !c.isAuthed() && time.Now().After(c.deadline) {
		c.once(func() {
			c.l.refused.WithLabelValues(closedLoginGrace).Inc()
			c.l.log.Warn("client connection closed: not authenticated within the login grace time", "source", c.source, "grace", c.l.grace)
		})
	}
	return n, err
}

// once runs f the first time only, for the one log line per connection.
func (c *limitedConn) once(f func()) { c.closed.Do(f) }

func (c *limitedConn) isAuthed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

// SetDeadline keeps the login grace deadline until authentication:
// gliderlabs sets (and clears) deadlines on every read and write.
func (c *limitedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.authed && (t.IsZero() || t.After(c.deadline)) {
		t = c.deadline
	}
	return c.Conn.SetDeadline(t)
}

// Close closes the connection and gives back its slots.
func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.forgetLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// sourceOf is the address a connection comes from, without its port.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
