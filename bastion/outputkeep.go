package bastion

import (
	"context"
	"io"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// streamRecorder is a record of output that keeps stdout and stderr apart;
// runOnTarget gives it each stream on its own writer.
type streamRecorder interface {
	Stdout() io.Writer
	Stderr() io.Writer
}

var _ streamRecorder = (*mpa.OutputRecorder)(nil)

// runRecorded runs a released request on its target, recording its output
// (up to output.max_bytes), and keeps the record in the store before the
// request is marked completed. A record the store does not take is logged:
// the command has run by then, and its size and hash still reach the
// audit trail with its completion.
func (g *Gate) runRecorded(s ssh.Session, target Identity, r mpa.Request) (mpa.Output, runResult) {
	rec := mpa.NewOutputRecorder(r.ID, g.cfg.OutputMaxBytes(), time.Now)
	if p, _, pty := s.Pty(); pty {
		rec.SetTerminal(p.Term, p.Window.Width, p.Window.Height)
	}
	res := g.runOnTarget(s, target, r.Command, rec, mpaActionNames(r.Actions))
	out := rec.Output()
	// The session may be gone by now: the output is kept under a bound
	// of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.Context()), 30*time.Second)
	defer cancel()
	if err := g.mpa.SaveOutput(ctx, r.ID, out); err != nil {
		g.log.Error("keep output", "request", r.ID, "bytes", out.TotalBytes, "err", err)
	}
	return out, res
}
