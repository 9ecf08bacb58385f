// Command plume is the Plume MQTT broker.
//
//	plume                         broker on 127.0.0.1:1883, anonymous clients allowed on loopback
//	plume help                    the commands and flags (commands.go); plume help COMMAND for one
//	plume check --config FILE     validate a config without starting; every error, one per line
//	plume --config plume.yaml     broker as the file says
//	plume --listen ADDR           override the listeners with one TCP address
//	plume --data-dir DIR          keep sessions and retained messages on disk (fsynced before each ack)
//	plume --http 127.0.0.1:1880   operations endpoint: /healthz, /readyz, admin API /api/v1/, /debug/pprof/
//	plume conformance --broker tcp://HOST:PORT   run the conformance suite against any broker
//	plume plugin new|call ...     scaffold a Wasm plugin, or call a built one without a broker
//	plume passwd [-c|-b|-D|-U] FILE USER   manage a password file (builtin: password-file), like mosquitto_passwd
//	plume version                 version, Go toolchain and main modules (also --version)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/store/disk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	args, code, done := subcommand(args, stdout, stderr) // commands.go
	if done {
		return code
	}
	fs := flag.NewFlagSet("plume", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration file (see examples/plume.yaml)")
	listen := fs.String("listen", "", "serve one TCP address instead of the configured listeners")
	level := fs.String("log-level", "", "log level: trace, debug, info, warn, error")
	format := fs.String("log-format", "", "log format: auto, console, json")
	httpAddr := fs.String("http", "", "serve the operations endpoint (dashboard /, /metrics, /healthz, /readyz, /api/v1/, /debug/pprof/) on this address (http.address); off loopback it needs http.auth")
	opsAddr := fs.String("ops", "", "deprecated: the old name of --http")
	pprofAddr := fs.String("pprof", "", "deprecated: the old name of --http")
	dataDir := fs.String("data-dir", "", "keep sessions, queued messages and retained messages in this directory across restarts (store.path)")
	if code, ok := parseBrokerFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg := config.Default()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintln(stderr, "plume: config:", err)
			return 2
		}
	}
	// flags override the file, at start-up and on each reload.
	flags := func(cfg *config.Config) {
		if *listen != "" {
			cfg.Listeners = []config.Listener{{Name: "default", Type: "tcp", Address: *listen}}
		}
		if *dataDir != "" {
			if cfg.Store == nil {
				cfg.Store = &disk.Config{}
			}
			cfg.Store.Path = *dataDir
		}
		if *level != "" {
			cfg.Log.Level = *level
		}
		if *format != "" {
			cfg.Log.Format = *format
		}
	}
	flags(&cfg)
	olderHTTPFlag, err := httpFlag(&cfg.HTTP, *httpAddr, *opsAddr, *pprofAddr)
	if err != nil {
		fmt.Fprintln(stderr, "plume:", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "plume: config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := start(cfg, *configPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "plume:", err)
		return 1
	}
	// The process's runtime, not a server's: here rather than in start,
	// which the tests run many times in one process.
	applyGC(&srv.log, cfg.GC)
	srv.setFlags(func(c *config.Config) {
		flags(c)
		_, _ = httpFlag(&c.HTTP, *httpAddr, *opsAddr, *pprofAddr) // checked above
	})
	if olderHTTPFlag != "" {
		srv.log.Warn().Msg(olderHTTPFlag + " is deprecated: use --http, which serves the same endpoint")
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-hup:
			srv.reload(ctx, "SIGHUP")
		}
	}
	srv.log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.stop(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		srv.log.Error().Err(err).Msg("shutdown")
		return 1
	}
	srv.log.Info().Msg("stopped")
	return 0
}
