package bastion

import (
	"log/slog"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// The gate refuses every way around a command gate: port forwarding (which
// is also how ssh -J works), agent forwarding, X11 and subsystems such as
// sftp. Each refusal is logged.

// refuseChannel rejects channels other than sessions.
func refuseChannel(log *slog.Logger) ssh.ChannelHandler {
	return func(_ *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, _ ssh.Context) {
		log.Warn("channel refused", "login", conn.User(), "remote", conn.RemoteAddr().String(), "type", nc.ChannelType())
		nc.Reject(gossh.Prohibited, "keyturn: "+nc.ChannelType()+" channels are not allowed through the gate")
	}
}

// refuseGlobalRequest rejects remote forwarding and other global requests.
func refuseGlobalRequest(log *slog.Logger) ssh.RequestHandler {
	return func(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
		if req.Type != "keepalive@openssh.com" {
			log.Warn("request refused", "login", ctx.User(), "remote", ctx.RemoteAddr().String(), "type", req.Type)
		}
		return false, nil
	}
}

// refusedSessionRequests are session-channel requests the gate answers no.
var refusedSessionRequests = map[string]bool{
	"auth-agent-req@openssh.com": true,
	"x11-req":                    true,
	"subsystem":                  true,
}

// sessionChannel hands session channels to gliderlabs with the refused
// requests filtered out. gliderlabs itself says yes to agent forwarding.
func sessionChannel(log *slog.Logger) ssh.ChannelHandler {
	return func(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
		ssh.DefaultSessionHandler(srv, conn, filteredChannel{NewChannel: nc, log: log, conn: conn}, ctx)
	}
}

type filteredChannel struct {
	gossh.NewChannel
	log  *slog.Logger
	conn *gossh.ServerConn
}

func (f filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := f.NewChannel.Accept()
	if err != nil {
		return nil, nil, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		for req := range reqs {
			if refusedSessionRequests[req.Type] {
				f.log.Warn("session request refused", "login", f.conn.User(), "remote", f.conn.RemoteAddr().String(), "type", req.Type, "detail", requestDetail(req))
				if req.WantReply {
					req.Reply(false, nil)
				}
				continue
			}
			out <- req
		}
	}()
	return ch, out, nil
}

func requestDetail(req *gossh.Request) string {
	if req.Type != "subsystem" {
		return ""
	}
	var p struct{ Name string }
	if gossh.Unmarshal(req.Payload, &p) != nil {
		return ""
	}
	return p.Name
}
