// Package demotarget is the target host of `keyturn demo`: a small SSH
// server, in the demo's own process, that runs commands with /bin/sh as the
// user running the demo. It lets a newcomer try the gate without setting up
// a host, and it trusts exactly one client key, the gate's.
package demotarget
