// Package tui is the approvers' console: a Bubble Tea program served over an
// SSH session, in which approvers review, approve and reject held requests.
//
// An approver opens it with `ssh -t NAME@gate` (no target, no command) and
// the gate calls [Serve]. The console is a client of the same approval
// service the `mpa` commands use, through the small [Backend] interface that
// *mpa.Service satisfies: it shows the service's requests and answers and
// never decides anything itself. Quorum, self-approval, TOTP checks and
// lockout are the service's rules; the console shows its errors in place.
//
// Views:
//   - the queue: the pending requests, pushed live by [Backend.WatchAll]
//     and sorted by expiry; an approver's own requests are marked, since
//     another approver must decide them;
//   - a request's detail: the whole command line with the words the policy
//     matched highlighted, the action and rule, the reason, the votes with
//     their comments, a countdown to expiry and the audit trail;
//   - the approve / reject dialog: a masked TOTP code, a comment (required
//     to reject) and an optional valid-before;
//   - the history of decided and finished requests, with a filter;
//   - TOTP registration for an approver with no secret yet.
//
// Someone without the approver role sees only their own requests and may
// cancel them.
//
// Each view is a model of its own (queueModel, historyModel, detailModel,
// dialogModel, registerModel, filterModel) holding only its own state; the
// root [Model] holds what they share (shared.go: the requests, the viewer,
// the size), routes messages (route.go) and moves between views. Errors
// and policy matches read as in every keyturn client (bastion/mpawords).
//
// No model does I/O in Update: every call to the Backend is a tea.Cmd
// that returns a typed message (msgs.go). Tests build it with [New], a
// fixed clock and a fixed colour profile.
package tui
