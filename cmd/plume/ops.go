package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/transport"
)

// startOps serves the operations endpoint (/healthz, /debug/pprof/, and
// /plugins with a config file) on addr
// until stop. Off loopback it warns: profiles expose memory, payloads included.
func (s *server) startOps(addr string) error {
	o := ops.New(ops.Config{Address: addr, Health: s.health})
	if s.plugins != nil {
		o.Handle("GET /plugins", http.HandlerFunc(s.servePlugins))
	}
	if err := o.Listen(); err != nil {
		return err
	}
	s.ops = o
	s.startDashboard(o)
	ev := s.log.Info()
	if !transport.IsLoopback(o.Addr()) {
		ev = s.log.Warn().Str("advice", "keep it on loopback or behind a firewall: /debug/pprof exposes memory contents")
	}
	ev.Str("address", o.Addr()).Msg("operations endpoint listening (/healthz, /debug/pprof/)")
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

// opsAddress reconciles --ops with the deprecated --pprof, which names the
// same endpoint.
func opsAddress(opsAddr, pprofAddr string) (string, error) {
	switch {
	case pprofAddr == "":
		return opsAddr, nil
	case opsAddr == "" || opsAddr == pprofAddr:
		return pprofAddr, nil
	}
	return "", fmt.Errorf("--pprof %s and --ops %s: --pprof is the old name of --ops; give one", pprofAddr, opsAddr)
}
