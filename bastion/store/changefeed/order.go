package changefeed

import (
	"cmp"
	"slices"
	"strings"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// InOrder sorts a batch of committed changes into the order the feed
// promises ([mpa.Store]): by revision; within one, the records (requests,
// approvers, settings) before the audit events, and those in chain order.
// A reader that is told of an audit event finds the request it is about
// among the changes before it. The backends need it because neither
// keeps that order by itself: Badger hands on a transaction's writes in
// no particular order (it keeps them in a map), and an etcd watch gives
// them in the order they were written, which is the caller's.
func InOrder(cs []mpa.Change) {
	slices.SortStableFunc(cs, func(a, b mpa.Change) int {
		if c := cmp.Compare(a.Rev, b.Rev); c != 0 {
			return c
		}
		aa, ba := a.Kind == mpa.ChangeAudit && a.Audit != nil, b.Kind == mpa.ChangeAudit && b.Audit != nil
		switch {
		case aa && ba:
			if c := strings.Compare(a.Audit.Chain, b.Audit.Chain); c != 0 {
				return c
			}
			return cmp.Compare(a.Audit.Seq, b.Audit.Seq)
		case aa:
			return 1
		case ba:
			return -1
		}
		return 0
	})
}
