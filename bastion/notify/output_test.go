package notify

import (
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// TestCompletedCarriesOutput: request.completed tells a receiver how much
// the command wrote and its first lines; other events do not.
func TestCompletedCarriesOutput(t *testing.T) {
	g := newGate(t)
	srv, got := receiver(t)
	g.runNotifier(g.chatNotifier(srv.URL))

	r := g.create("df -h")
	g.vote(r.ID, "bob", true)
	g.vote(r.ID, "carol", true)
	if _, err := g.Svc.BeginExecution(g.ctx, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	head := "Filesystem Size\n/dev/sda1 10G\n\\x1b[31m\n"
	if _, err := g.Svc.FinishExecution(g.ctx, r.ID, mpa.ExecResult{OutputBytes: 123456, OutputHead: head}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rc := <-got
		switch rc.n.Event {
		case "request.completed":
			if rc.n.OutputBytes == nil || *rc.n.OutputBytes != 123456 || rc.n.OutputHead != head {
				t.Errorf("completed: output_bytes %v, output_head %q; want 123456 and %q", rc.n.OutputBytes, rc.n.OutputHead, head)
			}
		default:
			if rc.n.OutputBytes != nil || rc.n.OutputHead != "" {
				t.Errorf("%s carries output: %v %q", rc.n.Event, rc.n.OutputBytes, rc.n.OutputHead)
			}
		}
	}
}
