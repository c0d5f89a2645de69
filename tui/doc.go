// Package tui is the approvers' console: a Bubble Tea program served over an
// SSH session, in which approvers review, approve and reject held requests.
package tui
