// Command plume is the Plume MQTT broker.
//
//	plume                         broker on 127.0.0.1:1883, anonymous clients allowed on loopback
//	plume --config plume.yaml     broker as the file says
//	plume --listen ADDR           override the listeners with one TCP address
//	plume --data-dir DIR          keep sessions and retained messages on disk (fsynced before each ack)
//	plume --http 127.0.0.1:1880   operations endpoint: /healthz, /readyz, admin API /api/v1/, /debug/pprof/
//	plume conformance --broker tcp://HOST:PORT   run the conformance suite against any broker
//	plume plugin new|call ...     scaffold a Wasm plugin, or call a built one without a broker
//	plume passwd [-c|-b|-D|-U] FILE USER   manage a password file (builtin: password-file), like mosquitto_passwd
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
	if len(args) > 0 {
		switch args[0] {
		case "conformance":
			return runConformance(args[1:], stdout, stderr)
		case "plugin":
			return runPlugin(args[1:], stdout, stderr)
		case "passwd":
			return runPasswd(args[1:], os.Stdin, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "plume", version)
			return 0
		}
	}
	fs := flag.NewFlagSet("plume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (see examples/plume.yaml)")
	listen := fs.String("listen", "", "serve one TCP address instead of the configured listeners")
	level := fs.String("log-level", "", "log level: trace, debug, info, warn, error")
	format := fs.String("log-format", "", "log format: auto, console, json")
	httpAddr := fs.String("http", "", "serve the operations endpoint (/healthz, /readyz, /api/v1/, /debug/pprof/) on this address (http.address); off loopback it needs http.auth")
	opsAddr := fs.String("ops", "", "deprecated: the old name of --http")
	pprofAddr := fs.String("pprof", "", "deprecated: the old name of --http")
	dataDir := fs.String("data-dir", "", "keep sessions, queued messages and retained messages in this directory across restarts (store.path)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintln(stderr, "plume: config:", err)
			return 2
		}
	}
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
			srv.reloadPlugins(ctx, "SIGHUP")
			srv.reloadCerts("SIGHUP")
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
