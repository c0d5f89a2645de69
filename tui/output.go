package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/mpa"
)

// outputBackend is a Backend that can read a released command's kept
// output (*mpa.Service can). A backend without it shows no output.
type outputBackend interface {
	RequestOutput(ctx context.Context, id string) (mpa.StoredOutput, error)
}

var _ outputBackend = (*mpa.Service)(nil)

// maxOutputLines bounds the output shown in the detail view; 'mpa requests
// output ID' prints all that was kept.
const maxOutputLines = 200

// loadOutput reads request id's kept output, if its audit trail says it
// has one.
func loadOutput(ctx context.Context, b Backend, id string, events []audit.Event) (*mpa.StoredOutput, error) {
	ob, ok := b.(outputBackend)
	if !ok {
		return nil, nil
	}
	for _, e := range events {
		if e.Kind == audit.KindRequestOutput {
			out, err := ob.RequestOutput(ctx, id)
			if err != nil {
				return nil, err
			}
			return &out, nil
		}
	}
	return nil, nil
}

// outputLines is the detail view's Output section: what a finished
// request's command wrote, each line with its time and stream, escaped.
// A kept copy that does not match the audit trail is not shown.
func (d detailModel) outputLines(s *shared, w int) []string {
	if d.output == nil && d.outputErr == nil {
		return nil
	}
	st := s.st
	lines := []string{"", st.label.Render("Output")}
	if d.outputErr != nil {
		return append(lines, "  "+st.err.Render(describe(d.outputErr)))
	}
	o := d.output
	if !o.Matches() {
		return append(lines, "  "+st.err.Render(fmt.Sprintf("the kept output does not match the audit trail (event %d); not shown", o.AuditSeq)))
	}
	kept := "kept in full"
	if o.Output.OmittedBytes > 0 {
		kept = fmt.Sprintf("%d bytes omitted in the middle", o.Output.OmittedBytes)
	}
	lines = append(lines, "  "+st.dim.Render(fmt.Sprintf("%d bytes, %s; sha256 %s matches audit event %d",
		o.Output.TotalBytes, kept, short12(o.SHA256), o.AuditSeq)))
	shown := 0
	add := func(chunks []mpa.OutputChunk) bool {
		for _, c := range chunks {
			stream := "out"
			if c.Stream == mpa.StreamStderr {
				stream = "err"
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(c.Data), "\n"), "\n") {
				if shown == maxOutputLines {
					lines = append(lines, "  "+st.dim.Render(fmt.Sprintf("… more: ssh %s@gate mpa requests output %s", s.viewer.Name, o.Output.Request)))
					return false
				}
				shown++
				prefix := fmt.Sprintf("  %7.2fs %s ", c.At.Seconds(), stream)
				for i, wl := range wrapText(printable(strings.TrimSuffix(l, "\r")), max(10, w-len(prefix))) {
					if i > 0 {
						prefix = strings.Repeat(" ", len(prefix))
					}
					lines = append(lines, st.dim.Render(prefix)+wl)
				}
			}
		}
		return true
	}
	if add(o.Output.Head) {
		if o.Output.OmittedBytes > 0 {
			lines = append(lines, "  "+st.dim.Render(fmt.Sprintf("… %d bytes omitted …", o.Output.OmittedBytes)))
		}
		add(o.Output.Tail)
	}
	return lines
}

func short12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
