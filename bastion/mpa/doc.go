// Package mpa is keyturn's multi-party approval: the two-person rule.
//
// A privileged command line becomes a pending [Request]. Registered
// approvers, never the requester and each at most once, approve it with a
// TOTP code; when enough have approved (the quorum) it is Approved, and its
// requester releases it exactly once with [Service.BeginExecution], which
// commits Approved -> Executing before the command is sent. Requests that
// change keyturn itself (registering an approver, disabling MPA, replacing
// the policy) are held the same way and applied by the [Service] in the
// transaction that reaches quorum.
//
// The vocabulary follows vendor multi-party authorization (OneFS MPA,
// NetApp multi-admin verification): approvers register with a TOTP secret,
// requests have a lifecycle with fixed retention, and MPA can only be
// enabled once two approvers are registered.
//
// Persistence goes through the [Store] interface defined here. It has
// transactions and change events as first-class operations because several
// gates may share one replicated store: quorum is counted inside a store
// transaction, and watchers hear of changes from the store, never from an
// in-process channel. The implementations are
// github.com/keyturn/keyturn/bastion/store/badgerstore (one gate) and
// github.com/keyturn/keyturn/bastion/store/etcdstore (several gates);
// package storetest is the suite both pass.
//
// Audit records a gate makes for its sessions go through a [Sequencer],
// which group-commits concurrent records into one transaction and returns
// each only once it is durable.
//
// Every state change is recorded as an audit event in the same store
// transaction (see package github.com/keyturn/keyturn/bastion/audit).
//
// What a released command wrote is kept as an [Output] (output.go), apart
// from its request, with the request's retention; its hash is in a
// request.output audit event, so the kept copy can be checked against the
// chain.
package mpa
