package demotarget

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Server is a running demo target.
type Server struct {
	srv *ssh.Server
	log *slog.Logger
}

// New returns a demo target with the given host key that accepts only
// clientKey.
func New(hostKey gossh.Signer, clientKey gossh.PublicKey, log *slog.Logger) *Server {
	s := &Server{log: log}
	want := clientKey.Marshal()
	s.srv = &ssh.Server{
		Handler:     s.handle,
		HostSigners: []ssh.Signer{hostKey},
		PublicKeyHandler: func(_ ssh.Context, key ssh.PublicKey) bool {
			return bytes.Equal(key.Marshal(), want)
		},
		Version: "keyturn-demo-target",
		// Late window changes wait for the handler (see winrace.go).
		ChannelHandlers: map[string]ssh.ChannelHandler{"session": sessionChannel},
	}
	return s
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and its sessions.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) handle(sess ssh.Session) {
	args := []string{"-l"}
	if cmd := sess.RawCommand(); cmd != "" {
		args = []string{"-c", cmd}
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = append(os.Environ(), sess.Environ()...)
	if home, err := os.UserHomeDir(); err == nil {
		cmd.Dir = home
	}
	ptyReq, winCh, isPty := sess.Pty()
	sigs := forwardSignals(sess)
	defer sigs.stop()
	sess.SendRequest(startedRequest, false, nil) // see winrace.go
	var err error
	if isPty {
		cmd.Env = append(cmd.Env, "TERM="+ptyReq.Term)
		err = runWithPTY(sess, cmd, ptyReq.Window, winCh, sigs)
	} else {
		err = runPiped(sess, cmd, sigs)
	}
	sess.Exit(exitCode(err))
}

func runPiped(sess ssh.Session, cmd *exec.Cmd, sigs *signalForwarder) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = sess, sess.Stderr()
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		io.Copy(stdin, sess)
		stdin.Close()
	}()
	sigs.start(cmd.Process)
	return cmd.Wait()
}

func runWithPTY(sess ssh.Session, cmd *exec.Cmd, win ssh.Window, winCh <-chan ssh.Window, sigs *signalForwarder) error {
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: uint16(win.Height), Cols: uint16(win.Width)})
	if err != nil {
		return err
	}
	// Setsize reads f's descriptor, which Close invalidates: the two are
	// serialized, and no size is set once f is closed.
	var fmu sync.Mutex
	closed := false
	closeF := func() {
		fmu.Lock()
		defer fmu.Unlock()
		if !closed {
			closed = true
			f.Close()
		}
	}
	defer closeF()
	go func() {
		for w := range winCh {
			fmu.Lock()
			if !closed {
				pty.Setsize(f, &pty.Winsize{Rows: uint16(w.Height), Cols: uint16(w.Width)})
			}
			fmu.Unlock()
		}
	}()
	go io.Copy(f, sess)
	done := make(chan struct{})
	go func() {
		io.Copy(sess, f)
		close(done)
	}()
	sigs.start(cmd.Process)
	err = cmd.Wait()
	// What the command wrote last may still sit in the terminal: closing
	// f now would drop it (a short command's whole output, at times).
	// Once no process holds the terminal, reading f ends by itself after
	// the last byte; a background process that keeps it open gets
	// drainGrace before f is closed under it.
	select {
	case <-done:
	case <-time.After(drainGrace):
	}
	closeF()
	<-done
	return err
}

// drainGrace is how long a terminal session's output is read after its
// command ended while some other process still holds the terminal.
const drainGrace = time.Second

// signalForwarder passes the client's signals to the command. The handler
// registers it before it tells winrace.go it started, and winrace.go holds
// every signal until then, so gliderlabs has buffered none when Signals is
// called: for a buffered signal, Signals starts a goroutine of its own that
// reads the session's channel without the session's lock, which races with
// the Signals(nil) in stop.
type signalForwarder struct {
	sess ssh.Session
	sigs chan ssh.Signal
	proc chan *os.Process
	done chan struct{}
}

// maxEarlySignals bounds the signals kept for a command not yet started.
const maxEarlySignals = 4

func forwardSignals(sess ssh.Session) *signalForwarder {
	f := &signalForwarder{
		sess: sess,
		sigs: make(chan ssh.Signal, 4),
		proc: make(chan *os.Process, 1),
		done: make(chan struct{}),
	}
	sess.Signals(f.sigs)
	go f.run()
	return f
}

// start delivers the signals kept so far, and all later ones, to p.
func (f *signalForwarder) start(p *os.Process) { f.proc <- p }

// stop ends the forwarding. gliderlabs sends on the channel under the lock
// Signals takes, and run drains it until done is closed, so once Signals(nil)
// returns nothing is being sent or will be.
func (f *signalForwarder) stop() {
	f.sess.Signals(nil)
	close(f.done)
}

func (f *signalForwarder) run() {
	var p *os.Process
	var early []ssh.Signal
	send := func(sig ssh.Signal) {
		if s, ok := signals[sig]; ok {
			p.Signal(s)
		}
	}
	for {
		select {
		case p = <-f.proc:
			for _, sig := range early {
				send(sig)
			}
			early = nil
		case sig := <-f.sigs:
			switch {
			case p != nil:
				send(sig)
			case len(early) < maxEarlySignals:
				early = append(early, sig)
			}
		case <-f.done:
			return
		}
	}
}

var signals = map[ssh.Signal]syscall.Signal{
	ssh.SIGINT: syscall.SIGINT, ssh.SIGTERM: syscall.SIGTERM, ssh.SIGKILL: syscall.SIGKILL,
	ssh.SIGHUP: syscall.SIGHUP, ssh.SIGQUIT: syscall.SIGQUIT, ssh.SIGUSR1: syscall.SIGUSR1,
	ssh.SIGUSR2: syscall.SIGUSR2,
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	return 127
}
