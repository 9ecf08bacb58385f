package main

import (
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/dashboard"
)

// startDashboard serves the live dashboard at / on the operations endpoint o
// and starts its sampler; stopDashboard ends it. The client list the page
// shows comes from the admin API on the same endpoint.
func (s *server) startDashboard(o *ops.Server) {
	cfg := dashboard.Config{Version: "plume " + version, Stats: s.broker.Stats}
	if s.plugins != nil {
		cfg.Plugins = s.pluginSamples
	}
	// Refusals: the audit log's recent events, once it exists (issue 12).
	d := dashboard.New(cfg)
	d.Register(o)
	d.Start()
	s.dashboard = d
}

// stopDashboard ends the sampler and the open event streams, before the
// operations server's shutdown would wait for them.
func (s *server) stopDashboard() {
	if s.dashboard != nil {
		s.dashboard.Stop()
	}
}

// pluginSamples is the chain's counters for the dashboard. The host counts
// traps today; calls and latencies come with its per-plugin metrics.
func (s *server) pluginSamples() []dashboard.PluginSample {
	var out []dashboard.PluginSample
	for _, p := range s.plugins.Plugins() {
		out = append(out, dashboard.PluginSample{Name: p.Name(), Errors: p.Traps()})
	}
	return out
}
