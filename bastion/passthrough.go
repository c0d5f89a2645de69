package bastion

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/guard"
	"github.com/keyturn/keyturn/bastion/targets"
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
	return g.passthroughOn(s, id, nil)
}

// passthroughOn is passthrough on a channel opened early (nil: open one).
func (g *Gate) passthroughOn(s ssh.Session, id Identity, early *earlySession) int {
	res := g.runOnTargetEarly(s, id, s.RawCommand(), nil, nil, early)
	if res.blocked != nil {
		return g.holdObserved(s, id, res.blocked)
	}
	return res.status
}

// runResult is how a command on a target ended.
type runResult struct {
	status int // for the client
	// lost: the target's connection (or its channel) ended while the
	// command may have been running, without an exit status. Whether it
	// ran, in part or in full, is unknown; status is exitcode.Interrupted.
	lost bool
	err  string // what went wrong, for the record
	// blocked is what keyturn-guard stopped on a guarded target, if any.
	blocked *guard.Report
}

// runOnTarget runs command on the session's target. out, if not nil, sees
// every byte of the command's stdout and stderr too (for the record of a
// released request). On a guarded target the command goes as a grant for
// the granted actions, and blocked is what keyturn-guard stopped, if any.
func (g *Gate) runOnTarget(s ssh.Session, id Identity, command string, out io.Writer, granted []string) runResult {
	return g.runOnTargetEarly(s, id, command, out, granted, nil)
}

// runOnTargetEarly is runOnTarget on a channel whose opening started
// before the caller's record committed (nil: open one now). The caller
// has the record: nothing is sent on the channel before this.
func (g *Gate) runOnTargetEarly(s ssh.Session, id Identity, command string, out io.Writer, granted []string, early *earlySession) runResult {
	command, hs, err := g.targetCommand(id.Target, command, granted)
	guarded := hs != nil
	if err != nil {
		early.abandon()
		g.log.Error("grant for guarded target", "user", id.User, "target", id.Target, "err", err)
		say(s, "keyturn: %s: %v; not run", id.Target, err)
		return runResult{status: exitcode.Internal, err: "grant for guarded target: " + err.Error()}
	}
	if !guarded && command != "" {
		if err := unguardedLineError(g.targetShell(id.Target), command); err != nil {
			early.abandon()
			g.log.Error("line refused for the target", "user", id.User, "target", id.Target, "err", err)
			say(s, "keyturn: %s: %v; not run", id.Target, err)
			status := exitcode.Usage
			if errors.Is(err, errLineTooLong) {
				status = exitcode.TooLong
			}
			return runResult{status: status, err: "line refused for the target: " + err.Error()}
		}
	}
	ptyReq, winCh, isPty := s.Pty()
	line := command
	var ts *targets.Session
	var p targetPipes
	for retried := false; ; retried = true {
		if early != nil {
			ts, err = early.wait()
			early = nil
		} else {
			ts, err = g.targets.NewSession(s.Context(), id.Target)
		}
		if err != nil {
			g.log.Error("target unavailable", "user", id.User, "target", id.Target, "err", err)
			say(s, "keyturn: %v", err)
			return runResult{status: exitcode.Unavailable, err: err.Error()}
		}
		if !guarded {
			// An unguarded target runs the line under bash (wrapped
			// unless its connection's login is that plain bash);
			// keyturn-guard is sent the grant as it is.
			command = g.unguardedCommand(ts, id.Target, line, isPty)
		}
		var stage string
		p, stage, err = startOnTarget(ts, isPty, ptyReq, command)
		if err == nil {
			break
		}
		ts.Close()
		if !retried && notSent(err) {
			// The pooled connection broke under the channel (a spare
			// opened before it did): the request never left the gate,
			// so nothing ran; one more try, on a new channel.
			g.log.Info("target connection broken before the session's first request; opening another", "target", id.Target, "err", err)
			continue
		}
		switch {
		case stage == "pty":
			g.log.Error("target refused a PTY", "user", id.User, "target", id.Target, "err", err)
			say(s, "keyturn: target %s refused a terminal: %v", id.Target, err)
			return runResult{status: exitcode.Unavailable, err: "target refused a terminal: " + err.Error()}
		case stage == "pipes":
			g.log.Error("target pipes", "target", id.Target, "err", err)
			return runResult{status: exitcode.Internal, err: err.Error()}
		case errors.Is(err, io.EOF):
			// The request may have reached the target before the
			// connection went: the command may be running.
			return g.lost(s, id, err)
		default:
			g.log.Error("target refused the command", "user", id.User, "target", id.Target, "err", err)
			say(s, "keyturn: target %s refused the session: %v", id.Target, err)
			return runResult{status: exitcode.Unavailable, err: "target refused the command: " + err.Error()}
		}
	}
	defer ts.Close()
	stdin, targetOut, targetErr := p.stdin, p.stdout, p.stderr

	// done ends the goroutines that forward window changes and signals.
	done := make(chan struct{})
	defer close(done)
	if isPty {
		go func() {
			// The channel starts with the size the PTY request already
			// carried; sending it again as a change is noise to the
			// target (and trips a data race in gliderlabs-based ones).
			// The session's channel holds the latest size only, so a
			// flood of changes reaches the target coalesced.
			last := ptyReq.Window
			for {
				select {
				case w, ok := <-winCh:
					if !ok {
						return
					}
					if w == last {
						continue
					}
					last = w
					ts.WindowChange(w.Height, w.Width)
				case <-done:
					return
				}
			}
		}()
	}

	var stdout, stderr io.Writer = s, s.Stderr()
	if out != nil {
		// Only a released request is recorded; plain sessions skip the
		// MultiWriter. The two streams share out, so its writes are
		// serialized.
		rec := &lockedWriter{w: out}
		stdout, stderr = io.MultiWriter(s, rec), io.MultiWriter(s.Stderr(), rec)
		if split, ok := out.(streamRecorder); ok {
			stdout, stderr = io.MultiWriter(s, split.Stdout()), io.MultiWriter(s.Stderr(), split.Stderr())
		}
	}

	var tail *tailWriter
	if guarded {
		// The guard's report of a blocked line ends its stderr.
		tail = &tailWriter{}
		stderr = io.MultiWriter(stderr, tail)
	}

	sigs := make(chan ssh.Signal, 4)
	s.Signals(sigs)
	defer s.Signals(nil)

	// Every byte of output reaches the client before its exit status:
	// the copies end at the target's EOF, and Wait is called after them.
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); pooledCopy(stderr, targetErr) }()
	var targetOutR io.Reader = targetOut
	if guarded {
		// The guard's challenge comes first on its stdout, and the grant
		// goes first on its stdin, before any byte of the client's. What
		// a guard that failed says on stderr still reaches the client.
		if targetOutR, err = hs.run(targetOut, stdin, func() { ts.Close() }); err != nil {
			g.log.Error("guard handshake", "user", id.User, "target", id.Target, "err", err)
			ts.Close()
			copies.Done()
			copies.Wait()
			say(s, "keyturn: %s: %v; not run", id.Target, err)
			return runResult{status: exitcode.Unavailable, err: "guard handshake: " + err.Error()}
		}
	}
	go func() {
		pooledCopy(stdin, s)
		stdin.Close() // the client's EOF becomes the command's EOF
	}()
	// A client that goes away takes its command's session with it, as
	// with sshd: the target sees the channel close (and hangs up a
	// terminal). Otherwise a command that never ends by itself would
	// hold the gate's goroutines and the target's session forever.
	var clientLeft atomic.Bool
	go func() {
		select {
		case <-clientGone(s):
		case <-s.Context().Done():
		case <-done:
			return
		}
		clientLeft.Store(true)
		ts.Close()
	}()
	go func() { defer copies.Done(); pooledCopy(stdout, targetOutR) }()
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
	res := g.exitStatus(s, id, ts.Wait())
	if tail != nil && !res.lost {
		res.blocked = tail.report(res.status)
	}
	if res.lost && clientLeft.Load() {
		res.err = "the client's connection ended while the command ran; the gate closed its session on the target"
	}
	return res
}

// targetPipes are a target session's standard streams.
type targetPipes struct {
	stdin          io.WriteCloser
	stdout, stderr io.Reader
}

// startOnTarget asks for a terminal if the client has one, takes the
// session's pipes, and starts command (the shell if empty). stage names
// what failed.
//
// The gate copies the target's output itself, with pooled buffers,
// rather than through ts.Stdout and ts.Stderr.
func startOnTarget(ts *targets.Session, isPty bool, pty ssh.Pty, command string) (p targetPipes, stage string, err error) {
	if isPty {
		if err := ts.RequestPty(pty.Term, pty.Window.Height, pty.Window.Width, gossh.TerminalModes{}); err != nil {
			return p, "pty", err
		}
	}
	if p.stdin, err = ts.StdinPipe(); err != nil {
		return p, "pipes", fmt.Errorf("target stdin: %w", err)
	}
	if p.stdout, err = ts.StdoutPipe(); err != nil {
		return p, "pipes", fmt.Errorf("target stdout: %w", err)
	}
	if p.stderr, err = ts.StderrPipe(); err != nil {
		return p, "pipes", fmt.Errorf("target stderr: %w", err)
	}
	if command == "" {
		return p, "exec", ts.Shell()
	}
	return p, "exec", ts.Start(command)
}

// notSent reports whether a request on a target channel failed in the
// gate's own write to the connection (the connection was already broken):
// then it never reached the target. A request that was written and got
// no answer fails with io.EOF instead, and may have run; a refusal is not
// a network error.
func notSent(err error) bool {
	var op *net.OpError
	return !errors.Is(err, io.EOF) && errors.As(err, &op)
}

// lost tells the client that the target went away while its command may
// have been running: not an exit status of the command.
func (g *Gate) lost(s ssh.Session, id Identity, err error) runResult {
	g.log.Error("target connection lost while a command ran", "user", id.User, "target", id.Target, "err", err)
	say(s, "keyturn: lost the connection to target %s while the command ran; whether it finished is unknown", id.Target)
	return runResult{status: exitcode.Interrupted, lost: true, err: "connection to the target lost while the command ran: " + err.Error()}
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
// command, on to the client. A session that ended without either (the
// connection dropped, or the target closed the channel) is lost: the
// command's outcome is unknown.
func (g *Gate) exitStatus(s ssh.Session, id Identity, err error) runResult {
	if err == nil {
		return runResult{}
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		if sig := exit.Signal(); sig != "" {
			sendExitSignal(s, sig, exit.Msg())
		}
		return runResult{status: exit.ExitStatus()}
	}
	var missing *gossh.ExitMissingError
	if errors.As(err, &missing) {
		return g.lost(s, id, errors.New("the session ended without an exit status"))
	}
	return g.lost(s, id, err)
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
