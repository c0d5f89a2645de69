package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/keyturn/keyturn/bastion/audit"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/server"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

const auditUsage = `Usage:
  keyturn audit verify --data-dir DIR [--encryption-key-file FILE]
  keyturn audit verify --file EXPORT.jsonl
  keyturn audit verify --config keyturn.yaml

Checks the hash-chained audit trail and names the first bad event. With
several gates on one store each gate has its own chain: every chain is
checked, and every anchor one chain holds of another (a chain truncated or
rewritten under its anchors is named).

With --data-dir it reads the gate's store directly; stop the gate first (a
running gate holds the store's lock). With --file it checks an export made
by 'mpa audit export' (- reads standard input), without access to the gate:
an auditor's offline check. With --config it reads the store the config
names: the etcd cluster that several gates share (gates may keep running),
or the data dir's store as with --data-dir. Exits 0 when the chain is intact, 1 when it is
broken or cannot be read, 2 on a usage error.
`

// auditMain runs `keyturn audit ...`.
func auditMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return subcommands("keyturn audit", auditUsage, args, stdout, stderr, map[string]func([]string) int{
		"verify": func(args []string) int { return auditVerify(args, stdin, stdout, stderr) },
	})
}

func auditVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyturn audit verify", flag.ContinueOnError)
	dataDir, keyFile, cfgFile := storeFlags(fs, "read")
	file := fs.String("file", "", "a JSON Lines `export` from 'mpa audit export' (- for standard input)")
	pos, st, ok := parseFlags(fs, args, auditUsage, stdout, stderr)
	if !ok {
		return st
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "keyturn audit verify: "+format+"\n", a...)
		return 1
	}
	switch {
	case len(pos) > 0:
		fmt.Fprintf(stderr, "keyturn audit verify: unexpected argument %q\n\n%s", pos[0], auditUsage)
		return 2
	case *cfgFile != "" && (*dataDir != "" || *file != "" || *keyFile != ""):
		fmt.Fprintf(stderr, "keyturn audit verify: --config goes alone (the config names the store and its key)\n\n%s", auditUsage)
		return 2
	case *cfgFile == "" && (*dataDir == "") == (*file == ""):
		fmt.Fprintf(stderr, "keyturn audit verify: give exactly one of --data-dir and --file\n\n%s", auditUsage)
		return 2
	case *file != "" && *keyFile != "":
		fmt.Fprintf(stderr, "keyturn audit verify: --encryption-key-file goes with --data-dir, not --file\n\n%s", auditUsage)
		return 2
	}

	if *file != "" {
		r := stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return fail("%v", err)
			}
			defer f.Close()
			r = f
		}
		src, err := audit.ReadChains(audit.ReadJSONL(r))
		if err != nil {
			return fail("%s: %v", *file, err)
		}
		heads, err := audit.VerifyChains(src)
		if err != nil {
			return chainBroken(stdout, stderr, *file, err)
		}
		for _, l := range audit.HeadLines(heads) {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintf(stdout, "(an export cannot show events cut off after its last line, beyond what\n"+
			"other chains anchored: compare these heads with 'mpa audit verify' on a gate)\n")
		return 0
	}

	st2, log, err := openAdminStore(*cfgFile, *dataDir, *keyFile, stderr)
	if *cfgFile != "" {
		*dataDir = *cfgFile // names what was verified in messages
	}
	if err != nil {
		return fail("%v", err)
	}
	defer st2.Close()
	ctx := context.Background()
	svc := mpa.New(st2, mpa.Options{Logger: log})
	heads, err := svc.VerifyAuditChains(ctx)
	if err != nil {
		return chainBroken(stdout, stderr, *dataDir, err)
	}
	for _, l := range audit.HeadLines(heads) {
		fmt.Fprintln(stdout, l)
	}
	return 0
}

// chainBroken reports a failed verification: which event is bad on stdout
// (what the auditor asked for), the full error on stderr.
func chainBroken(stdout, stderr io.Writer, what string, err error) int {
	var ce *audit.ChainError
	if errors.As(err, &ce) {
		at := fmt.Sprintf("seq %d", ce.Seq)
		if ce.Chain != "" {
			at = fmt.Sprintf("chain %s seq %d", ce.Chain, ce.Seq)
		}
		fmt.Fprintf(stdout, "audit chain is BROKEN: first bad event is %s (position %d): %s\n", at, ce.Index, ce.Problem)
	}
	fmt.Fprintf(stderr, "keyturn audit verify: %s: %v\n", what, err)
	return 1
}

// openOfflineStore opens the gate's store for a tool run on the gate host
// with the gate stopped. It refuses a dir that holds no store rather than
// let Badger create an empty one there, and says how to get past the lock.
func openOfflineStore(dir, keyFile string, log *slog.Logger) (*badgerstore.Store, error) {
	// --data-dir is the gate's data_dir, whose store lives in a subfolder;
	// the store's own folder is accepted too.
	if _, err := os.Stat(filepath.Join(dir, server.StoreDir, "MANIFEST")); err == nil {
		dir = filepath.Join(dir, server.StoreDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s holds no keyturn store (no MANIFEST); is --data-dir the gate's data_dir?", dir)
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	var key []byte
	if keyFile != "" {
		var err error
		// The key file holds the raw AES key, as the gate reads it.
		if key, err = os.ReadFile(keyFile); err != nil {
			return nil, fmt.Errorf("read encryption key: %w", err)
		}
	}
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir, EncryptionKey: key, Logger: log})
	if errors.Is(err, badgerstore.ErrInUse) {
		return nil, fmt.Errorf("%w; stop the gate first: offline tools open the store directly", err)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// storeFlags defines the flags an offline command names its store with:
// --data-dir and its --encryption-key-file, or --config; use says what
// the command does with the store the config names ("read", "use").
func storeFlags(fs *flag.FlagSet, use string) (dataDir, keyFile, cfgFile *string) {
	dataDir = fs.String("data-dir", "", "the gate's data `dir` (the gate must be stopped)")
	keyFile = fs.String("encryption-key-file", "", "the store's encryption key `file`, if it is encrypted")
	cfgFile = fs.String("config", "", "the gate's keyturn.yaml, to "+use+" the store it names")
	return dataDir, keyFile, cfgFile
}

// openAdminStore opens the store an offline command works on: the one
// the config names when cfgFile is set, else the data dir's (encrypted
// with the key in keyFile, if set). The logger it returns writes warnings
// and worse to stderr.
func openAdminStore(cfgFile, dataDir, keyFile string, stderr io.Writer) (server.ClosableStore, *slog.Logger, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfgFile != "" {
		st, err := openConfiguredStore(cfgFile, log)
		return st, log, err
	}
	st, err := openOfflineStore(dataDir, keyFile, log)
	if err != nil {
		return nil, log, err // not a typed nil *badgerstore.Store in the interface
	}
	return st, log, nil
}

// openConfiguredStore opens the store a keyturn.yaml names: etcd, shared
// with running gates, or the data dir's Badger store (gate stopped).
func openConfiguredStore(path string, log *slog.Logger) (server.ClosableStore, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Store.Backend == config.BackendEtcd {
		return server.OpenStore(cfg, log)
	}
	return openOfflineStore(cfg.DataDir, cfg.Store.EncryptionKeyFile, log)
}

// parseFlags parses fs from args allowing flags after positional
// arguments (`breakglass register-approver NAME --data-dir DIR`), and
// handles --help. ok is false when the command must exit with status.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (pos []string, status int, ok bool) {
	fs.SetOutput(io.Discard)
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fmt.Fprintln(stdout, "\nFlags:")
			fs.PrintDefaults()
			return nil, 0, false
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n\n%s", fs.Name(), err, usage)
			return nil, 2, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
