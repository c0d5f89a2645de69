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
		log.Warn("channel refused", "login", conn.User(), "remote", conn.RemoteAddr().String(), "type", truncate(nc.ChannelType(), 64))
		nc.Reject(gossh.Prohibited, "keyturn: "+truncate(nc.ChannelType(), 64)+" channels are not allowed through the gate")
	}
}

// refuseGlobalRequest rejects remote forwarding and other global requests.
func refuseGlobalRequest(log *slog.Logger) ssh.RequestHandler {
	return func(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
		if req.Type != "keepalive@openssh.com" {
			log.Warn("request refused", "login", ctx.User(), "remote", ctx.RemoteAddr().String(), "type", truncate(req.Type, 64))
		}
		return false, nil
	}
}

// refusedSessionRequests are session-channel requests the gate answers no
// and logs (see session.handle); gliderlabs itself would say yes to agent
// forwarding.
var refusedSessionRequests = map[string]bool{
	"auth-agent-req@openssh.com": true,
	"x11-req":                    true,
	"subsystem":                  true,
}

func requestDetail(req *gossh.Request) string {
	if req.Type != "subsystem" {
		return ""
	}
	name, _, ok := parseString(req.Payload)
	if !ok {
		return ""
	}
	return name
}
