// Package storetest is the compliance suite every [mpa.Store] must pass,
// in the manner of Teleport's lib/backend/test and Vault's
// ExerciseBackend: one set of tests run against each backend, with a
// second handle on the same data standing in for a second gate.
//
// A backend is done when [Run] passes, not when the gate seems to work:
// the approval service relies on exactly these properties (serializable
// transactions that retry on conflict, a change feed in commit order that
// is live when it returns, retention, membership and a leader fence).
//
// The suite imports only mpa and audit; a backend's own test calls Run
// with a [Backend] that opens its handles.
package storetest
