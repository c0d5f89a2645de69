package mpa_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

func TestReject(t *testing.T) {
	e, r := newPending(t, 2, "bob", "carol")
	e.mustApprove(r.ID, "bob")
	r, err := e.svc.Reject(e.ctx, r.ID, "carol", mpa.VoteInput{Code: e.Code("carol"), Comment: "not now"})
	if err != nil || r.Status != mpa.StatusRejected || len(r.Rejections) != 1 {
		t.Fatalf("Reject = %s %v, %v; want rejected", r.Status, r.Rejections, err)
	}
	e.Step()
	if _, err := e.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrNotPending) {
		t.Fatalf("approve after rejection: %v; want ErrNotPending", err)
	}
	if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrNotApproved) {
		t.Fatalf("release after rejection: %v; want ErrNotApproved", err)
	}
	e.verifyAudit()
}

func TestCancelOnlyRequester(t *testing.T) {
	e, r := newPending(t, 2, "bob")
	if _, err := e.svc.Cancel(e.ctx, r.ID, "bob"); !errors.Is(err, mpa.ErrNotRequester) {
		t.Fatalf("bob cancelling alice's request: %v; want ErrNotRequester", err)
	}
	r, err := e.svc.Cancel(e.ctx, r.ID, "alice")
	if err != nil || r.Status != mpa.StatusCancelled {
		t.Fatalf("Cancel = %s, %v", r.Status, err)
	}
	if _, err := e.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrNotPending) {
		t.Fatalf("approve after cancel: %v; want ErrNotPending", err)
	}
	if _, err := e.svc.Cancel(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrNotPending) {
		t.Fatalf("second cancel: %v; want ErrNotPending", err)
	}
}

func TestPendingExpires(t *testing.T) {
	life := mpa.Lifecycle{PendingTTL: time.Hour, ApprovalTTL: 2 * time.Hour}
	e := newEnv(t, mpa.Options{Lifecycle: life})
	e.Register("bob")
	r := e.create("alice", 2)
	e.clock.Advance(time.Hour)

	// A read shows it expired before the sweeper has recorded it.
	got, err := e.svc.Get(e.ctx, r.ID)
	if err != nil || got.Status != mpa.StatusExpired {
		t.Fatalf("Get after pending TTL = %s, %v; want expired", got.Status, err)
	}
	if _, err := e.approve(r.ID, "bob"); !errors.Is(err, mpa.ErrExpired) {
		t.Fatalf("approve after pending TTL: %v; want ErrExpired", err)
	}
	if n, err := e.svc.ExpireDue(e.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireDue = %d, %v; want 0 (the vote already recorded the expiry)", n, err)
	}

	r2 := e.create("alice", 2)
	e.clock.Advance(time.Hour)
	if n, err := e.svc.ExpireDue(e.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	got, err = e.svc.Get(e.ctx, r2.ID)
	if err != nil || got.Status != mpa.StatusExpired {
		t.Fatalf("Get after sweep = %s, %v; want expired", got.Status, err)
	}
	e.verifyAudit()
}

func TestApprovalExpires(t *testing.T) {
	life := mpa.Lifecycle{ApprovalTTL: 2 * time.Hour}
	for _, tc := range []struct {
		name        string
		validBefore time.Duration // from the approval; 0 for none
		lasts       time.Duration
	}{
		{"approval TTL", 0, 2 * time.Hour},
		{"valid-before earlier than TTL wins", 40 * time.Minute, 40 * time.Minute},
		{"valid-before later than TTL loses", 5 * time.Hour, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mpa.Options{Lifecycle: life})
			e.Register("bob", "carol")
			r := e.create("alice", 2)
			in := mpa.VoteInput{Code: e.Code("bob")}
			if tc.validBefore > 0 {
				in.ValidBefore = e.clock.Now().Add(tc.validBefore)
			}
			if _, err := e.svc.Approve(e.ctx, r.ID, "bob", in); err != nil {
				t.Fatal(err)
			}
			r = e.mustApprove(r.ID, "carol")
			if r.Status != mpa.StatusApproved {
				t.Fatalf("status %s; want approved", r.Status)
			}
			if want := e.clock.Now().Add(tc.lasts); !r.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt = %v; want %v", r.ExpiresAt, want)
			}
			e.clock.Advance(tc.lasts - time.Second)
			if got, _ := e.svc.Get(e.ctx, r.ID); got.Status != mpa.StatusApproved {
				t.Fatalf("just before expiry: %s; want approved", got.Status)
			}
			e.clock.Advance(time.Second)
			if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrExpired) {
				t.Fatalf("release after approval expired: %v; want ErrExpired", err)
			}
			got, err := e.svc.Get(e.ctx, r.ID)
			if err != nil || got.Status != mpa.StatusExpired {
				t.Fatalf("after failed release: %s, %v; want expired", got.Status, err)
			}
			if _, err := e.svc.BeginExecution(e.ctx, r.ID, "alice"); !errors.Is(err, mpa.ErrExpired) {
				t.Fatalf("second release: %v; want ErrExpired", err)
			}
			e.verifyAudit()
		})
	}
}

func TestLifecycleList(t *testing.T) {
	rows := mpa.DefaultLifecycle().List()
	want := map[mpa.Status]time.Duration{
		mpa.StatusPending: 7 * 24 * time.Hour, mpa.StatusCompleted: 30 * 24 * time.Hour,
		mpa.StatusRejected: 30 * 24 * time.Hour, mpa.StatusCancelled: 7 * 24 * time.Hour,
		mpa.StatusExpired: 7 * 24 * time.Hour,
	}
	for _, r := range rows {
		if d, ok := want[r.Status]; ok && r.Duration != d {
			t.Errorf("%s: %v; want %v", r.Status, r.Duration, d)
		}
	}
	for _, s := range mpa.Statuses() {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back mpa.Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("round trip %s = %s, %v", s, back, err)
		}
	}
}
