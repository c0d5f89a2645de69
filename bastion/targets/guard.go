package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/guard"
)

// ErrNotGuarded is a require_guard target whose login did not answer as
// keyturn-guard.
var ErrNotGuarded = errors.New("targets: login is not keyturn-guard (require_guard)")

// probeGuard asks a freshly dialled target's login whether it is
// keyturn-guard: the guard answers its probe without running anything; a
// shell would run the probe as a command and say something else.
func probeGuard(client *gossh.Client, timeout time.Duration) error {
	s, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("guard probe: %w", err)
	}
	defer s.Close()
	out, err := s.StdoutPipe()
	if err != nil {
		return fmt.Errorf("guard probe: %w", err)
	}
	if err := s.Start(guard.ProbeCommand); err != nil {
		return fmt.Errorf("guard probe: %w", err)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(out, 256))
		if err == nil {
			err = s.Wait()
		}
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || !bytes.Equal(bytes.TrimSpace(r.b), []byte(guard.ProbeAnswer)) {
			return fmt.Errorf("%w: answered %.60q (%v)", ErrNotGuarded, r.b, r.err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%w: no answer within %v", ErrNotGuarded, timeout)
	}
}
