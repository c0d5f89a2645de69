// Package conflict is how both store backends retry an Update whose
// commit lost to another writer's: a bounded number of attempts, with a
// jittered wait between them that grows with the attempt. What counts as
// a conflict, and how writers take turns, stays with each backend.
package conflict
