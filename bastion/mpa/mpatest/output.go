package mpatest

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// Finisher is the part of [*mpa.Service] that ends a released run.
type Finisher interface {
	SaveOutput(ctx context.Context, id string, out mpa.Output) error
	FinishExecution(ctx context.Context, id string, res mpa.ExecResult) (mpa.Request, error)
}

// FinishWithOutput ends released request id as the gate ends a command
// that wrote what write writes to its recorder (timed by now): it keeps
// the output, then completes the run with the output's size and hash.
// It returns the kept output.
func FinishWithOutput(t testing.TB, ctx context.Context, svc Finisher, id string, now func() time.Time, write func(*mpa.OutputRecorder)) mpa.Output {
	t.Helper()
	rec := mpa.NewOutputRecorder(id, 0, now)
	write(rec)
	out := rec.Output()
	if err := svc.SaveOutput(ctx, id, out); err != nil {
		t.Fatalf("save output of %s: %v", id, err)
	}
	if _, err := svc.FinishExecution(ctx, id, mpa.ExecResult{OutputBytes: out.TotalBytes, OutputSHA256: out.TotalSHA256}); err != nil {
		t.Fatalf("finish %s: %v", id, err)
	}
	return out
}
