package bastion

import (
	"errors"
	"io"
	"sync"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// copyBufs are reused across sessions: a busy gate would otherwise allocate
// a fresh buffer per stream per session (x/crypto's own Stdout/Stderr
// copies allocate 32 KiB each with io.Copy). 32 KiB is SSH's largest
// packet payload, so a bigger buffer would not mean fewer writes.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// pooledCopy copies src to dst with a buffer from copyBufs.
func pooledCopy(dst io.Writer, src io.Reader) error {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, err := io.CopyBuffer(dst, src, *buf)
	return err
}

// passthrough runs the session's command (or shell) on its target, byte for
// byte, and returns the target's exit status. Flow control is SSH's own:
// each copy blocks until the other side's window opens, so nothing piles up
// in the gate however much data a command moves.
func (g *Gate) passthrough(s ssh.Session, id Identity) int {
	return g.runOnTarget(s, id, s.RawCommand(), nil)
}

// runOnTarget runs command on the session's target. out, if not nil, sees
// every byte of the command's stdout and stderr too (for the record of a
// released request).
func (g *Gate) runOnTarget(s ssh.Session, id Identity, command string, out io.Writer) int {
	ts, err := g.targets.NewSession(s.Context(), id.Target)
	if err != nil {
		g.log.Error("target unavailable", "user", id.User, "target", id.Target, "err", err)
		say(s, "keyturn: %v", err)
		return ExitUnavailable
	}
	defer ts.Close()

	ptyReq, winCh, isPty := s.Pty()
	if isPty {
		if err := ts.RequestPty(ptyReq.Term, ptyReq.Window.Height, ptyReq.Window.Width, gossh.TerminalModes{}); err != nil {
			g.log.Error("target refused a PTY", "user", id.User, "target", id.Target, "err", err)
			say(s, "keyturn: target %s refused a terminal: %v", id.Target, err)
			return ExitUnavailable
		}
		go func() {
			// The channel starts with the size the PTY request already
			// carried; sending it again as a change is noise to the
			// target (and trips a data race in gliderlabs-based ones).
			last := ptyReq.Window
			for w := range winCh {
				if w == last {
					continue
				}
				last = w
				ts.WindowChange(w.Height, w.Width)
			}
		}()
	}

	stdin, err := ts.StdinPipe()
	if err != nil {
		g.log.Error("target stdin", "target", id.Target, "err", err)
		return ExitInternal
	}
	// The gate copies the target's output itself, with pooled buffers,
	// rather than through ts.Stdout and ts.Stderr.
	targetOut, err := ts.StdoutPipe()
	if err != nil {
		g.log.Error("target stdout", "target", id.Target, "err", err)
		return ExitInternal
	}
	targetErr, err := ts.StderrPipe()
	if err != nil {
		g.log.Error("target stderr", "target", id.Target, "err", err)
		return ExitInternal
	}
	var stdout, stderr io.Writer = s, s.Stderr()
	if out != nil {
		// Only a released request is recorded; plain sessions skip the
		// MultiWriter. The two streams share out, so its writes are
		// serialized.
		rec := &lockedWriter{w: out}
		stdout, stderr = io.MultiWriter(s, rec), io.MultiWriter(s.Stderr(), rec)
	}

	sigs := make(chan ssh.Signal, 4)
	s.Signals(sigs)
	defer s.Signals(nil)

	if command == "" {
		err = ts.Shell()
	} else {
		err = ts.Start(targetCommand(g.targetShell(id.Target), command))
	}
	if err != nil {
		g.log.Error("target refused the command", "user", id.User, "target", id.Target, "err", err)
		say(s, "keyturn: target %s refused the session: %v", id.Target, err)
		return ExitUnavailable
	}

	go func() {
		pooledCopy(stdin, s)
		stdin.Close() // the client's EOF becomes the command's EOF
	}()
	// Every byte of output reaches the client before its exit status:
	// the copies end at the target's EOF, and Wait is called after them.
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); pooledCopy(stdout, targetOut) }()
	go func() { defer copies.Done(); pooledCopy(stderr, targetErr) }()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				ts.Signal(gossh.Signal(sig))
			case <-done:
				return
			}
		}
	}()

	copies.Wait()
	return g.exitStatus(s, id, ts.Wait())
}

// lockedWriter serializes writes from the stdout and stderr copies.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// exitStatus passes the target's exit status, or the signal that ended the
// command, on to the client.
func (g *Gate) exitStatus(s ssh.Session, id Identity, err error) int {
	if err == nil {
		return 0
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		if sig := exit.Signal(); sig != "" {
			sendExitSignal(s, sig, exit.Msg())
		}
		return exit.ExitStatus()
	}
	var missing *gossh.ExitMissingError
	if errors.As(err, &missing) {
		g.log.Warn("target sent no exit status", "user", id.User, "target", id.Target)
		say(s, "keyturn: target %s closed the session without an exit status", id.Target)
		return ExitUnavailable
	}
	g.log.Error("target session failed", "user", id.User, "target", id.Target, "err", err)
	say(s, "keyturn: target %s: %v", id.Target, err)
	return ExitUnavailable
}

// sendExitSignal tells the client the command was killed by a signal, as
// sshd would. The client then reports the signal rather than a status.
func sendExitSignal(s ssh.Session, sig, msg string) {
	payload := struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}{Signal: sig, Error: msg}
	s.SendRequest("exit-signal", false, gossh.Marshal(&payload))
}
