package config

import (
	"strings"
	"testing"
)

func TestLimitsDefaults(t *testing.T) {
	c, err := Parse("k.yaml", []byte("listen: 127.0.0.1:2222\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits.Effective()
	if l.LoginGraceTime.Std() != DefaultLoginGraceTime || l.MaxConnections != DefaultMaxConnections ||
		l.MaxUnauthenticatedPerSource != DefaultMaxUnauthenticatedPerSource || l.MaxTargetConnections != DefaultMaxTargetConnections ||
		l.MaxSessionsPerConnection != DefaultMaxSessionsPerConnection || l.MaxEnv != DefaultMaxEnv ||
		l.MaxRequestBytes != DefaultMaxRequestBytes || l.MaxRequestsBeforeExec != DefaultMaxRequestsBeforeExec {
		t.Errorf("Effective() of an absent limits block = %+v; want every default", l)
	}
}

func TestLimitsSet(t *testing.T) {
	c, err := Parse("k.yaml", []byte("limits:\n  login_grace_time: 5s\n  max_target_connections: 3\n  max_env: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits.Effective()
	if l.LoginGraceTime.Std().Seconds() != 5 || l.MaxTargetConnections != 3 || l.MaxEnv != 2 || l.MaxConnections != DefaultMaxConnections {
		t.Errorf("Effective() = %+v", l)
	}
}

// A negative limit is a mistake, reported at its line; an unknown key in
// the block too.
func TestLimitsErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"limits:\n  max_env: -1\n", "k.yaml:2:"},
		{"limits:\n  max_connections: -5\n", "limits.max_connections: want a positive number"},
		{"limits:\n  max_sesions: 3\n", "unknown field"},
		{"limits:\n  login_grace_time: soon\n", "duration"},
	} {
		_, err := Parse("k.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", c.yaml, err, c.want)
		}
	}
}
