// Package metrics exposes the gate's Prometheus metrics and health check on
// a listener of their own.
//
// Almost everything is counted from the store's change feed (see
// [Metrics.Follow]): every decision, approval, rejection, code failure and
// execution is already an audit event, and the open-request gauges follow
// the request records. So the metrics agree with the audit trail, and the
// gate's hot path pays nothing for them. Only what the trail does not
// record is counted by a direct call: sessions ([Metrics.Session]) and
// target dial errors ([Metrics.DialError]), each one atomic increment.
//
// Every collector lives in the Metrics' own registry, never the global
// one, so two gates (or two tests) in one process do not collide.
package metrics
