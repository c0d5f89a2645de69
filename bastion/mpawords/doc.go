// Package mpawords is how the multi-party approval domain reads to a
// person, defined once for every place that shows it: the gate's hold
// flow and its messages to a requester, the mpa gate commands
// (bastion/mpacli) and the console (tui).
//
//   - [Error]: the sentence and the exit status for an error from the mpa
//     service. The statuses come from the one table in
//     bastion/exitcode, per family (a session or a gate command).
//   - [Explain], [MatchLine] and [Underline]: one rendering of a policy
//     decision: which action, why (the rule and the matcher's note) and
//     which words of the line matched. Byte offsets and rule paths
//     (actions[0].match[0]) stay in the audit record and --json.
//   - [QR]: the one set of QR code settings for a TOTP secret's URL.
//   - [Actions] and [Rules]: a policy decision's actions and approvers
//     rules in mpa's terms, for the request that holds a command.
//
// It sits below all three users and above mpa and policy; it knows no
// SSH, no store and no terminal UI.
package mpawords
