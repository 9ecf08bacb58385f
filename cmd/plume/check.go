package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/transport"
)

const checkUsage = `usage: plume check --config FILE
  validate FILE without starting the broker: the YAML, every section's rules,
  each plugin's module (compiled and initialised as at start-up), each TLS
  listener's certificate, key and CA files (readable, and the key matching the
  certificate), and each listener's address (bound and released at once: a
  port already taken or a host that does not resolve is an error).
  Every error found is printed, one per line, as FILE:LINE: KEY: MESSAGE;
  the exit status is 1 if there is any, 0 (with a one-line summary) if none.
`

// checkTimeout bounds loading the plugins of a checked config.
const checkTimeout = time.Minute

// runCheck is `plume check --config FILE`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plume check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage) }
	path := fs.String("config", "", "the YAML configuration file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*path)
	errs := config.Errors(err)
	if err == nil {
		// What only running the config finds, once the file reads right.
		errs = append(errs, checkPlugins(*path, cfg.Plugins)...)
		errs = append(errs, checkListeners(*path, cfg.Listeners)...)
	}
	for _, e := range errs {
		fmt.Fprintln(stdout, e)
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "plume check: %s: %d error(s)\n", *path, len(errs))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: %d listener(s), %d plugin(s) loaded, addresses free\n", *path, len(cfg.Listeners), len(cfg.Plugins.Plugins))
	return 0
}

// checkPlugins loads each chain entry (and its shadow) on a host of its
// own, as start-up would, so that one that fails does not hide the next.
// The compilation cache is left alone: a check writes nothing.
func checkPlugins(path string, c host.Config) []error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var errs []error
	for i, p := range c.Plugins {
		one := host.Config{Engine: c.Engine, Plugins: []host.PluginConfig{p}}
		h, err := host.New(ctx, zerolog.Nop(), one)
		if err != nil {
			errs = append(errs, config.At(path, fmt.Sprintf("plugins.chain[%d]", i), err))
			continue
		}
		if err := h.Close(ctx); err != nil {
			errs = append(errs, config.At(path, fmt.Sprintf("plugins.chain[%d]", i), err))
		}
	}
	return errs
}

// checkListeners binds each listener's address and releases it; for TLS
// listeners that loads the certificate files first.
func checkListeners(path string, ls []config.Listener) []error {
	var errs []error
	for i, lc := range ls {
		key := fmt.Sprintf("listeners[%d]", i)
		l, err := transport.New(lc)
		if err == nil {
			if err = l.Listen(); err == nil {
				err = l.Close()
			}
		}
		if err != nil {
			var se *setting.Error // a file of a TLS listener: name its key
			if errors.As(err, &se) {
				key, err = setting.Join(key, se.Key), se.Err
			}
			errs = append(errs, config.At(path, key, err))
		}
	}
	return errs
}
