package bastion

import (
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
	evictedSilent     = "evicted"                        // a silent connection made room for a new one
	closedLoginGrace  = "login_grace_time"               // not authenticated in time
	connLimiterPrefix = "keyturn_client_connections"
)

// connLimiter keeps the gate's client connections within config.Limits:
// a deadline on the handshake and authentication (login_grace_time), a
// number of not yet authenticated connections per source address, and a
// number of connections overall.
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
	log       *slog.Logger
	refused   *prometheus.CounterVec

	mu     sync.Mutex
	open   int
	unauth map[string][]*limitedConn // by source address, oldest first
}

func newConnLimiter(lim config.Limits, log *slog.Logger) *connLimiter {
	return &connLimiter{
		grace:     lim.LoginGraceTime.Std(),
		max:       lim.MaxConnections,
		perSource: lim.MaxUnauthenticatedPerSource,
		log:       log,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: connLimiterPrefix + "_refused_total",
			Help: "Client connections refused or closed before authentication, by reason (max_connections, max_unauthenticated_per_source, evicted, login_grace_time).",
		}, []string{"reason"}),
		unauth: make(map[string][]*limitedConn),
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
	l.mu.Unlock()
	if evict != nil {
		l.refused.WithLabelValues(evictedSilent).Inc()
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

// authenticated lifts the grace deadline of the connection ctx belongs to
// and frees its unauthenticated slot.
func (l *connLimiter) authenticated(ctx ssh.Context) {
	c, ok := ctx.Value(limitedConnKey{}).(*limitedConn)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authed {
		return
	}
	c.authed = true
	c.Conn.SetDeadline(time.Time{})
	l.mu.Lock()
	l.dropUnauthLocked(c)
	l.mu.Unlock()
}

// channels wraps the server's channel handlers so that a first channel
// marks its connection authenticated.
func (l *connLimiter) channels(hs map[string]ssh.ChannelHandler) map[string]ssh.ChannelHandler {
	out := make(map[string]ssh.ChannelHandler, len(hs))
	for name, h := range hs {
		out[name] = func(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
			l.authenticated(ctx)
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
			l.authenticated(ctx)
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
