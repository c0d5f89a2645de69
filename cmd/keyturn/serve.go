package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/bastion"
	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/server"
)

func serveMain(args []string, stdout, stderr io.Writer) int {
	fs := stderrFlagSet("keyturn serve", "Usage: keyturn serve [--config FILE] [--log-format text|json] [--addr-file FILE]\n       keyturn serve --check [--config FILE]\n\nRuns the gate until SIGINT or SIGTERM. SIGHUP reloads the policy.\n\n", stderr)
	configPath := configFlag(fs)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	addrFile := fs.String("addr-file", "", "write the address the gate listens on to `file` once it listens (useful with port 0)")
	check := fs.Bool("check", false, "check the config and the policy it names, print a summary, and exit (0 if both load)")
	if err := fs.Parse(args); err != nil {
		return exitForFlagErr(err)
	}
	log, err := newLogger(stderr, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn serve: %v\n", err)
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "keyturn serve: %v\n", err)
		return 1
	}
	if *check {
		summary, warnings, err := bastion.CheckConfig(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "keyturn serve --check: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, summary)
		for _, w := range warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, *addrFile); err != nil {
		log.Error("gate stopped with an error", "err", err)
		fmt.Fprintf(stderr, "keyturn serve: %v\n", err)
		return 1
	}
	log.Info("gate stopped")
	return 0
}

// serve runs a gate for cfg until ctx is done.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, addrFile string) error {
	srv, err := server.Open(ctx, cfg, server.Options{Logger: log, Console: console, ApprovalOffEvery: time.Hour})
	if err != nil {
		return err
	}
	if err := srv.LogStart(ctx, versionString()); err != nil {
		srv.Close()
		return err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen: %w", err)
	}
	if addrFile != "" {
		if err := writeFileAtomic(addrFile, []byte(l.Addr().String()+"\n")); err != nil {
			l.Close()
			srv.Close()
			return fmt.Errorf("write addr file: %w", err)
		}
	}
	return srv.Run(ctx, l)
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
}

func exitForFlagErr(err error) int {
	if err == flag.ErrHelp {
		return 0
	}
	return 2
}

// writeFileAtomic writes data so that a reader sees the whole file or none.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
