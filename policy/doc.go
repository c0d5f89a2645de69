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
// A [Policy] is immutable once parsed and [Policy.Decide] is safe for
// concurrent use.
//
// # What a command is
//
// Every simple command counts, wherever it stands: lists, pipelines, && and
// ||, subshells, groups, $(...) and `...`, <(...) and >(...), here-documents,
// redirection targets, function bodies (whether or not the function is
// called), loops, conditionals, coprocesses, arithmetic, array subscripts and
// declare values. Words are resolved as the shell would without running
// anything: quotes, backslashes, $'...' and brace expansion. A path names its
// last element when its directory is in trusted_paths (/usr/bin/../bin/kill is
// kill); any other path is unresolved.
//
// # Three kinds of program
//
// Every program the matcher meets is one of three kinds, and the kinds are
// data: catalogue.yaml in this package, extended by a policy's wrappers: and
// inert: lists (a policy's entry replaces the catalogue's for that name).
// The YAML is compiled into catalogue_gen.go by `go generate ./policy`
// (decoding it at run time cost keyturn-guard 7 ms per start); a test fails
// when the two differ.
//
//   - Runners (wrappers:) run another program. An entry is the program's
//     grammar: its options, where the command starts, or whether it takes a
//     string that a shell parses again (sh -c, su -c, ssh HOST CMD), and
//     subcommands that run and subcommands that do not (docker exec runs,
//     docker ps does not; a subcommand not listed does what run: says, so
//     a kubectl plugin is unresolved). An option an entry does not list may
//     or may not take the next word as its value; both readings are checked.
//     Long options are matched as GNU getopt does: a unique prefix names
//     the option (env --split-s). Subcommands may be abbreviated where the
//     tool allows it (btrfs sub del).
//   - Inert programs run nothing from their arguments (grep, echo, ls).
//   - Unknown programs are everything else. One passes unless an argument
//     names a program that would be held, or is a string that parses as a
//     command line that would be: then the line is unresolved, the action
//     is named, and the message tells the policy author to declare the
//     program as a runner or as inert.
//
// The catalogue is built from evidence: every program the GTFOBins project
// lists as able to spawn a shell or run a command has an entry, and a test
// walks that list (testdata/gtfobins-functions.tsv).
//
// # Unresolved
//
// A line is unresolved, and gets the policy's unresolved: verdict, when the
// command that runs depends on something only known at run time: a command
// name that is not a literal ($X, $(...), a glob, ~), eval of a non-literal,
// source and ., a shell reading a script file or stdin, interpreters (python,
// perl, awk with system(), ...), task runners (make, npm, ansible-playbook,
// run-parts), assignments to variables that change what runs (PATH,
// LD_PRELOAD, BASH_ENV, BASH_CMDS, ...), a program outside trusted_paths, a
// file the same line writes and then runs, wrapper arguments that are not
// literals and could be options, arithmetic on a value the line does not
// show (bash evaluates it as code), ${x@P}, declare -n, a write to a place
// that makes the system run something later (the persistence: list: shell
// and ssh startup files, cron, systemd, sudoers, PAM, ...), and anything
// the parser rejects.
//
// Where the line shows what an unresolved part may be, the action is named
// as well: ${X:-kill}, c=kill; $c, /usr/bin/k?ll, kill named in python -c
// code, a here-string fed to a shell (which is then read exactly). A
// variable's value is used only when the line never changes it otherwise;
// a for loop over literal words runs its body once per word.
//
// # What command gating cannot stop
//
// The matcher sees one line. A program an admin stages in one session (a
// renamed copy of kill in a trusted directory, a script) and runs in a later
// one by an innocent name is not seen; writes to the places in the
// persistence list are held (also relative ones after cd into one of them). Policies narrow this: keep trusted_paths to directories admins cannot
// write, deny or hold the tools that write there, and treat every interpreter
// and task runner as unresolved (the built-in list does). Interactive shells
// and terminals are refused or held as a whole, because a terminal turns vi,
// less, man and top into shells.
//
// Decide with the shipped policies.yaml costs about 5.3 µs of CPU a line on
// one core of an AMD EPYC (about 190,000 decisions a second; go test -bench
// Decide -cpu 1), against 4.5 µs before the catalogue of issue 18.
package policy
