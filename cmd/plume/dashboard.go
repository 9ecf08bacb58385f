package main

import (
	"fmt"
	"time"

	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/audit"
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
	if s.audit != nil {
		cfg.Refusals = s.recentRefusals
	}
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

// pluginSamples is the chain's counters for the dashboard: every export's
// calls and errors together, and the latency of all its calls (host
// metrics, the same that /metrics serves).
func (s *server) pluginSamples() []dashboard.PluginSample {
	var out []dashboard.PluginSample
	for _, p := range s.plugins.Plugins() {
		m := p.Metrics()
		ps := dashboard.PluginSample{Name: m.Name}
		var all latency.Snapshot
		for _, pt := range m.Points {
			ps.Calls += pt.Calls
			ps.Errors += pt.Errors
			all.Add(&pt.Latency)
		}
		if n := all.Count(); n > 0 {
			ps.Mean = all.Sum / time.Duration(n)
			ps.P99 = all.Quantile(0.99)
		}
		out = append(out, ps)
	}
	return out
}

// recentRefusals is the audit log's last authentication failures and
// denials, oldest first, for the dashboard's table.
func (s *server) recentRefusals(n int) []dashboard.Refusal {
	var out []dashboard.Refusal
	for _, ev := range s.audit.Recent(256) {
		if ev.Class != audit.ClassAuthFailure && ev.Class != audit.ClassAuthzDenied {
			continue
		}
		r := dashboard.Refusal{Time: ev.Time, Class: string(ev.Class), ClientID: ev.ClientID,
			Username: ev.Username, Remote: ev.Remote, Listener: ev.Listener, Topic: ev.Topic}
		if ev.Reason != nil {
			r.Reason = fmt.Sprintf("0x%02X %s", ev.Reason.Code, ev.Reason.Name)
			if ev.Reason.Text != "" {
				r.Reason += ": " + ev.Reason.Text
			}
		}
		out = append(out, r)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
