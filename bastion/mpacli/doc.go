// Package mpacli is the `mpa ...` command namespace that admins and
// approvers run over SSH at the gate (`ssh bob@gate mpa requests list`).
//
// It mirrors the OneFS `isi mpa` command set so that people who know the
// vendors' multi-party authorization find the same words: registration
// with a TOTP secret, approvers, settings (pa-metadata, request-lifecycle,
// global), requests (list, view, create, approve, reject, cancel, run) and
// the audit trail (list, verify, export).
//
// The package is a thin layer: it parses arguments, calls the
// [github.com/keyturn/keyturn/bastion/mpa] service and prints the result.
// Every rule (quorum, self-approval, replayed codes, lockout, who may
// cancel or release) is the service's; the only checks made here are the
// gate roles a command needs, so that a user without the approver role
// gets a clear refusal before any TOTP state is touched.
//
// [Run] is the entry point the gate calls with the words after "mpa". It
// returns the exit status for the SSH session: 0 on success,
// [exitcode.Usage] (64) for a usage error, [exitcode.NotPermitted] (77) when the caller
// is not allowed (wrong role, wrong or replayed code, lockout, own
// request...) and 1 for any other failure. Errors are written to
// Env.Stderr as "keyturn: mpa COMMAND: message".
package mpacli
