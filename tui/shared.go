package tui

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// shared is what every view reads: who is looking, through which
// service, at which size, and every request seen. The root [Model] owns
// it and applies the service's answers to it; a view model reads it and
// keeps only its own state (a cursor, a scroll position, a form).
type shared struct {
	// ctx is the session's lifetime. It is kept only to hand to commands,
	// so that their Backend calls end with the session; no model ever
	// blocks on it.
	ctx    context.Context
	svc    Backend
	viewer Viewer
	now    func() time.Time
	st     styles
	keys   KeyMap
	width  int
	body   int // lines for the current view, between the title and the status line

	// reqs is every request seen, by id. queue holds the pending ones the
	// viewer may see, sorted by expiry then id, so an update moves one
	// entry rather than re-sorting 10,000.
	reqs  map[string]*mpa.Request
	queue []*mpa.Request
}

// upsert records r, unless it is older than the state already held (the
// history's List and the subscription may deliver out of order), and keeps
// the queue sorted by expiry. It reports whether r went into the queue.
func (s *shared) upsert(r mpa.Request) bool {
	old, ok := s.reqs[r.ID]
	if ok && r.Updated.Before(old.Updated) {
		return false
	}
	if ok && s.queued(old) {
		s.queue = removeSorted(s.queue, old)
	}
	nr := r
	s.reqs[r.ID] = &nr
	if !s.queued(&nr) {
		return false
	}
	i, _ := slices.BinarySearchFunc(s.queue, &nr, byExpiry)
	s.queue = slices.Insert(s.queue, i, &nr)
	return true
}

// visible reports whether the viewer may see r: approvers see every
// request, anyone else only their own.
func (s *shared) visible(r *mpa.Request) bool {
	return s.viewer.Approver || r.Requester == s.viewer.Name
}

// queued reports whether r belongs in the queue: pending, visible to the
// viewer, and not yet past its expiry (the service marks it Expired only
// when it is next read or swept).
func (s *shared) queued(r *mpa.Request) bool {
	return r.Status == mpa.StatusPending && s.visible(r) &&
		(r.ExpiresAt.IsZero() || s.now().Before(r.ExpiresAt))
}

// byExpiry orders the queue: soonest expiry first, then by id so the
// order is total.
func byExpiry(a, b *mpa.Request) int {
	if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func removeSorted(q []*mpa.Request, r *mpa.Request) []*mpa.Request {
	i, found := slices.BinarySearchFunc(q, r, byExpiry)
	if found {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// expireQueue drops the requests whose expiry has passed. The queue is
// sorted by expiry, so they are all at its front.
func (s *shared) expireQueue() {
	now := s.now()
	n := 0
	for n < len(s.queue) && !s.queue[n].ExpiresAt.IsZero() && !now.Before(s.queue[n].ExpiresAt) {
		n++
	}
	if n > 0 {
		s.queue = slices.Delete(s.queue, 0, n)
	}
}

// cannotHelp reports whether the viewer, an approver, cannot help the
// pending request r with their vote: it has approvers rules and none of
// the lines it still needs is one of their groups. The queue marks it.
func (s *shared) cannotHelp(r *mpa.Request) bool {
	if !s.viewer.Approver || len(r.Rules) == 0 || r.Status != mpa.StatusPending || r.Requester == s.viewer.Name {
		return false
	}
	for _, vs := range [][]mpa.Vote{r.Approvals, r.Rejections} {
		for _, v := range vs {
			if v.Approver == s.viewer.Name {
				return false
			}
		}
	}
	gb, ok := s.svc.(groupsBackend)
	return ok && !gb.CanHelp(*r, s.viewer.Name)
}
