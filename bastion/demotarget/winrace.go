package demotarget

import (
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// gliderlabs' DefaultSessionHandler writes a window change into the
// session's Pty in place, from its request loop, while the handler it
// started for exec may be reading Pty for the first time: a data race
// (upstream). The gate serves its own sessions (bastion/session.go); this
// small target keeps gliderlabs' handler and closes the race around it: a
// window change that arrives after exec waits until the handler has read
// its terminal (it says so with startedRequest), and from then on reaches
// it through the window channel only. Before exec no handler runs, so
// nothing waits.

// startedRequest is what the handler "sends" once it has read Pty; the
// channel wrapper takes it and sends nothing.
const startedRequest = "keyturn-demo-target-started@keyturn"

// handlerStart bounds the wait for a handler that may never start.
const handlerStart = 5 * time.Second

// sessionChannel serves a session channel with gliderlabs' own handler
// over a channel whose late window changes wait for the handler.
func sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, orderedNewChannel{nc}, ctx)
}

type orderedNewChannel struct{ gossh.NewChannel }

func (n orderedNewChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := n.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	oc := &orderedChannel{Channel: ch, started: make(chan struct{})}
	out := make(chan *gossh.Request)
	go oc.forward(reqs, out)
	return oc, out, nil
}

type orderedChannel struct {
	gossh.Channel
	started chan struct{}
	once    sync.Once
}

// SendRequest takes the handler's startedRequest; every other request
// goes to the client.
func (c *orderedChannel) SendRequest(name string, wantReply bool, payload []byte) (bool, error) {
	if name == startedRequest {
		c.once.Do(func() { close(c.started) })
		return true, nil
	}
	return c.Channel.SendRequest(name, wantReply, payload)
}

// forward passes the client's requests on in order; a window change or a
// signal after exec, shell or subsystem waits for the handler to have
// started (bounded: gliderlabs may have refused the exec, and then no
// handler starts). A signal before exec is dropped: there is no command to
// receive it, and gliderlabs would buffer it and later hand it on from a
// goroutine that reads the session's signal channel without its lock,
// racing with the handler's Signals(nil) (see signalForwarder).
func (c *orderedChannel) forward(in <-chan *gossh.Request, out chan<- *gossh.Request) {
	defer close(out)
	running, gaveUp := false, false
	for req := range in {
		switch req.Type {
		case "exec", "shell", "subsystem":
			running = true
		case "signal":
			if !running {
				if req.WantReply {
					req.Reply(false, nil)
				}
				continue
			}
			gaveUp = gaveUp || !c.waitStarted()
		case "window-change":
			if running {
				gaveUp = gaveUp || !c.waitStarted()
			}
		}
		out <- req
	}
}

// waitStarted waits, bounded, for the handler's startedRequest and says
// whether it came. Once it did not, forward stops waiting: a refused exec
// starts no handler, and each later request would wait the bound again.
func (c *orderedChannel) waitStarted() bool {
	t := time.NewTimer(handlerStart)
	defer t.Stop()
	select {
	case <-c.started:
		return true
	case <-t.C:
		return false
	}
}
