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

// adminConfig is what the admin API reads and does here. The Auditor is the
// lead's to wire (ops/audit); nil until then.
func (s *server) adminConfig() admin.Config {
	c := admin.Config{Broker: s.broker, Plugins: s.adminPlugins}
	if s.plugins != nil && s.configPath != "" {
		c.Reload = s.adminReload
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

// adminReload is POST /api/v1/reload: what SIGHUP does (the plugin chain
// from the config file, then the listeners' certificates), answering what
// it did. A config that does not load changes nothing.
func (s *server) adminReload(ctx context.Context) (admin.ReloadReport, error) {
	const trigger = "admin API"
	var rep admin.ReloadReport
	if err := s.reloadPlugins(ctx, trigger); err != nil {
		return rep, err
	}
	rep.Applied = append(rep.Applied, "plugins")
	if err := s.reloadCerts(trigger); err != nil {
		return rep, err
	}
	rep.Applied = append(rep.Applied, "certificates")
	return rep, nil
}
