package main

import (
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/metrics"
)

// registerMetrics serves GET /metrics on o: the broker's, the plugins' and
// the store's counters, read at each scrape (ops/metrics, docs/metrics.md).
func (s *server) registerMetrics(o *ops.Server) {
	cfg := metrics.Config{
		Stats:         s.broker.Stats,
		Breakdown:     s.broker.Breakdown,
		CommitLatency: s.broker.CommitLatency,
		Cluster:       s.broker.Cluster,
	}
	if s.plugins != nil {
		cfg.Plugins = func() []metrics.Plugin { return pluginMetrics(s.plugins.Plugins()) }
	}
	o.Handle("GET /metrics", metrics.Handler(cfg))
}

// pluginMetrics adapts the host's counters to ops/metrics' shape (ops/ does
// not import host/).
func pluginMetrics(ps []*host.Plugin) []metrics.Plugin {
	out := make([]metrics.Plugin, 0, len(ps))
	for _, p := range ps {
		m := p.Metrics()
		mp := metrics.Plugin{Name: m.Name, LoadedAt: m.LoadedAt, Reloads: m.Reloads, ReloadFailures: m.ReloadFailures,
			Points: make([]metrics.Point, len(m.Points))}
		for i, pt := range m.Points {
			mp.Points[i] = metrics.Point{Point: pt.Point, Calls: pt.Calls, Errors: pt.Errors,
				Deadlines: pt.Deadlines, Traps: pt.Traps, Latency: pt.Latency}
		}
		out = append(out, mp)
	}
	return out
}
