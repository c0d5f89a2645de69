// Package policy decides what the gate does with a command line: run it,
// hold it for approval, or deny it.
//
// It parses the line as bash will (with mvdan.cc/sh/v3/syntax), finds every
// simple command that would run, sees through wrappers such as sudo, env and
// sh -c, and matches what it finds against the privileged actions named in
// policies.yaml. What it cannot resolve statically it holds or denies, never
// allows.
//
// The package is pure: it reads the file it is given and nothing else, keeps
// no clock and opens no connection, so a decision depends only on its input.
package policy
