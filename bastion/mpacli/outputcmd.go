package mpacli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyturn/keyturn/bastion/exitcode"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/termsafe"
)

// runRequestsOutput prints the kept output of a released command, after
// checking the kept copy against the audit trail: the hash of the stored
// record must be the one its request.output event holds, and the chain
// must verify. A copy that does not match is not shown.
func runRequestsOutput(c *call, args []string) int {
	fs := c.flags()
	cast := fs.Bool("cast", false, "write an asciicast v2 recording (asciinema play) instead of text")
	asJSON := jsonFlag(fs)
	p, st, ok := c.parse(fs, args, 1, 1)
	if !ok {
		return st
	}
	if st := c.require(readRoles...); st != exitcode.OK {
		return st
	}
	id := p.args[0]
	// Output is as private as its request: someone who may not see the
	// request is told what a missing one tells, so ids cannot be probed.
	if _, err := c.getRequest(id); err != nil {
		return c.fail(err)
	}
	out, err := c.env.Service.RequestOutput(c.ctx, id)
	if errors.Is(err, mpa.ErrNotFound) {
		if _, gerr := c.env.Service.Get(c.ctx, id); gerr != nil {
			return c.fail(gerr)
		}
		return c.fail(fmt.Errorf("request %s has no kept output (it has not run, it ran before output was kept, or its retention has passed): %w", id, mpa.ErrNotFound))
	}
	if err != nil {
		return c.fail(err)
	}
	if !out.Matches() {
		if out.Recorded == "" {
			return c.fail(fmt.Errorf("output of %s: no request.output event in the audit trail records it; not shown", id))
		}
		return c.fail(fmt.Errorf("output of %s does not match the audit trail: stored record sha256 %s, event %d recorded %s; not shown",
			id, out.SHA256, out.AuditSeq, out.Recorded))
	}
	if err := c.env.Service.VerifyAudit(c.ctx); err != nil {
		return c.fail(fmt.Errorf("output of %s: the audit chain does not verify; not shown: %w", id, err))
	}
	fmt.Fprintf(c.env.Stderr, "keyturn: output of %s: record sha256 %s matches audit event %d; chain verified\n", id, out.SHA256, out.AuditSeq)
	o := out.Output
	switch {
	case *cast:
		if err := o.WriteAsciicast(c.stdout()); err != nil {
			return c.fail(err)
		}
		return exitcode.OK
	case *asJSON:
		return c.writeJSON(o)
	}
	w := c.stdout()
	kept := "kept in full"
	if o.OmittedBytes > 0 {
		kept = fmt.Sprintf("kept %d bytes (head and tail), %d omitted", o.TotalBytes-o.OmittedBytes, o.OmittedBytes)
	}
	fmt.Fprintf(w, "request %s: %d bytes of output (sha256 %s), %s\n", o.Request, o.TotalBytes, o.TotalSHA256, kept)
	writeChunks(w, o.Head)
	if o.OmittedBytes > 0 {
		fmt.Fprintf(w, "... %d bytes omitted ...\n", o.OmittedBytes)
	}
	writeChunks(w, o.Tail)
	return exitcode.OK
}

// writeChunks prints each line of output with its time and stream,
// escaped for the terminal.
func writeChunks(w io.Writer, chunks []mpa.OutputChunk) {
	for _, ch := range chunks {
		stream := "out"
		if ch.Stream == mpa.StreamStderr {
			stream = "err"
		}
		text := strings.TrimSuffix(string(ch.Data), "\n")
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(w, "%+9.3fs %s  %s\n", ch.At.Seconds(), stream, termsafe.String(strings.TrimSuffix(line, "\r")))
		}
	}
}
