// Package config loads keyturn.yaml, the gate operator's file: where the gate
// listens, where it keeps its data, who may log in and which targets exist.
//
// Loading is strict. Unknown fields, wrong types and values that cannot work
// (a key that does not parse, a target without an address) are errors that
// name the file, line and column, so an operator fixes the file before the
// gate starts rather than after it misbehaves.
package config
