// Command keyturnbench measures keyturn side by side with the two things an
// admin would use instead: OpenSSH straight to the target, and OpenSSH's
// ProxyJump (ssh -J) through a plain sshd jump host.
//
// It starts everything on 127.0.0.1 in a temporary directory: real sshd
// targets (one per pinned cipher, so every hop of every path uses the same
// key exchange and cipher), a plain sshd jump host, and a keyturn gate built
// from this module and run as its own process (so its peak RSS can be read
// from /proc). It then drives the real ssh client, interleaving the paths,
// and measures cold and warm (ControlMaster) exec latency, stream
// throughput, 200 and 500 concurrent sessions through the gate, the time
// from the last approval's commit to a held command starting on the target,
// and the policy matcher's decisions per second. It prints a table with
// ratios against direct and, with --json FILE, writes the same figures.
//
// Warm exec is also measured direct against keyturn alone, the two
// alternating every iteration, with the median of the per-iteration ratios
// (warm.go): on a shared machine that figure moves least with the load.
//
// It is a harness, not part of the product binary, and no test starts it:
// a full run takes a few minutes, --quick under one. --only runs some
// parts (cold, warm, throughput, concurrency, approval).
//
//	go run ./cmd/keyturnbench [--quick] [--json FILE] [--keep] [--only warm,concurrency] [--warm-runs N]
package main
