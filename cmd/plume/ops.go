package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/admin"
)

// startOps serves the operations endpoint that c (the http section, or
// --http) describes until stop: /healthz, /readyz, /metrics, /debug/pprof/, the admin
// API (/api/v1/, admin.go) and, with a config file, /plugins, the older
// path of GET /api/v1/plugins. Config errors name the key under http.
func (s *server) startOps(c ops.Config) error {
	c.Health, c.Ready = s.health, s.ready
	o := ops.New(c)
	s.registerAdmin(o)
	s.registerMetrics(o)
	if s.plugins != nil {
		o.Handle("/plugins", admin.PluginsHandler(s.adminConfig()))
	}
	if err := o.Listen(); err != nil {
		var se *setting.Error
		if errors.As(err, &se) {
			return setting.In("http", err)
		}
		return err
	}
	s.ops = o
	s.startDashboard(o)
	ev := s.log.Info()
	if !setting.IsLoopback(o.Addr()) {
		ev = s.log.Warn().Str("advice", "it is off loopback: keep it behind a firewall; http.auth guards it")
	}
	ev.Str("address", o.Addr()).Str("scheme", o.Scheme()).Bool("auth", c.Auth.Configured()).
		Msg("operations endpoint listening: dashboard /, /metrics, /healthz, /readyz, admin API /api/v1/, /debug/pprof/")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := o.Serve(); err != nil {
			s.log.Error().Err(err).Msg("operations endpoint stopped")
		}
	}()
	return nil
}

// health is /healthz's answer: the broker serves until stop begins.
func (s *server) health() error {
	if s.stopping.Load() {
		return errors.New("shutting down")
	}
	return nil
}

// ready is /readyz's answer. start returns only once the store is
// recovered (broker.New restores it), every plugin is loaded (host.New
// fails otherwise) and every listener is bound, in that order; started is
// set then. The endpoint starts after that today, so /readyz differs from
// /healthz only while stopping, but the order is the contract a probe reads.
func (s *server) ready() error {
	if !s.started.Load() {
		return errors.New("starting: store, plugins or listeners not ready yet")
	}
	if s.cluster != nil {
		// A node without a JetStream meta leader cannot store what it
		// would acknowledge: a balancer should send clients elsewhere.
		if err := s.cluster.Ready(); err != nil {
			return err
		}
	}
	return s.health()
}

// stopOps ends the operations endpoint; profiles still streaming get a few
// seconds.
func (s *server) stopOps() {
	if s.ops == nil {
		return
	}
	s.stopDashboard()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.ops.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("operations endpoint shutdown")
	}
}

// httpFlag puts the address of --http, or of its older names --ops and
// --pprof, into cfg's http section, where it overrides http.address. It
// returns the older flag's name when one was used, for a warning.
func httpFlag(c *ops.Config, httpAddr, opsAddr, pprofAddr string) (older string, err error) {
	addr := ""
	for _, f := range []struct{ name, addr string }{{"--http", httpAddr}, {"--ops", opsAddr}, {"--pprof", pprofAddr}} {
		switch {
		case f.addr == "":
			continue
		case addr != "" && addr != f.addr:
			return "", fmt.Errorf("%s %s and %s %s: --ops and --pprof are older names of --http; give one", older, addr, f.name, f.addr)
		}
		if addr == "" {
			addr, older = f.addr, f.name
		}
	}
	if addr == "" {
		return "", nil
	}
	c.Address = addr
	if older == "--http" {
		older = ""
	}
	return older, nil
}
