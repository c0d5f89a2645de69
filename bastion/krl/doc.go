// Package krl reads OpenSSH revocation lists: the binary Key Revocation
// List format of PROTOCOL.krl (what 'ssh-keygen -k' writes) and the plain
// form sshd's RevokedKeys also accepts, one public key per line.
//
// It is hand-written because no maintained Go library for the format is
// among the project's dependencies (stripe/krl, the one there was, is
// archived). It parses what revocation needs (certificate serials, serial
// ranges and bitmaps, key ids, explicit keys, SHA-1 and SHA-256 key
// hashes) and refuses what it does not understand (signature sections,
// critical extensions, unknown section types) rather than skipping it: a
// list the gate cannot read fully must not be taken as revoking less than
// it says. The parser is fuzzed (FuzzParse).
package krl
