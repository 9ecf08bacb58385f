package main

import (
	"context"

	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/admin"
)

// registerAdmin adds the admin API (ops/admin) to o, wired to this server's
// broker, plugin host and reload.
func (s *server) registerAdmin(o *ops.Server) {
	admin.Register(o, s.adminConfig())
}

// adminConfig is what the admin API reads and does here; its actions go to
// the audit log.
func (s *server) adminConfig() admin.Config {
	c := admin.Config{Broker: s.broker, Plugins: s.adminPlugins, Cluster: s.broker.Cluster}
	if s.configPath != "" {
		c.Reload = s.adminReload
	}
	if s.audit != nil { // a nil *audit.Logger in the interface would not be nil
		c.Auditor = s.audit
	}
	return c
}

// adminPlugins is the chain as GET /api/v1/plugins shows it: each plugin's
// module (source, hash, load time), its traps and its shadow's counters.
func (s *server) adminPlugins() []admin.Plugin {
	if s.plugins == nil {
		return nil
	}
	var out []admin.Plugin
	for _, p := range s.plugins.Plugins() {
		info := p.Info()
		ap := admin.Plugin{Name: p.Name(), Source: info.Source, SHA256: info.SHA256, Traps: p.Traps()}
		if !info.LoadedAt.IsZero() {
			ap.LoadedAt = &info.LoadedAt
		}
		if st, ok := p.Shadow(); ok {
			ap.Shadow = st
		}
		out = append(out, ap)
	}
	return out
}

// adminReload is POST /api/v1/reload: what SIGHUP does (reload.go),
// answering what it applied and what needs a restart. A config that does
// not load changes nothing.
func (s *server) adminReload(ctx context.Context) (admin.ReloadReport, error) {
	const trigger = "admin API"
	r := s.reload(ctx, trigger)
	return admin.ReloadReport{Applied: r.Applied, NeedsRestart: r.NeedsRestart}, r.Err
}
