package main

import (
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/ops/audit"
)

// openAudit opens the audit log the config's audit section asks for, if
// any, before the plugin host and the broker, so that their first events
// (plugins loaded) are recorded.
//
// Without one, a memory-only logger keeps the last refusals and denials for
// the dashboard (audit.Memory): the same events, written nowhere.
func (s *server) openAudit(cfg *audit.Config, log zerolog.Logger) error {
	if cfg == nil {
		s.audit = audit.Memory(audit.ClassAuthFailure, audit.ClassAuthzDenied)
		return nil
	}
	a, err := audit.New(*cfg, log.With().Str("component", "audit").Logger())
	if err != nil {
		return err // it names the file
	}
	s.audit = a
	dest := cfg.File
	if cfg.Log {
		dest = "the main log"
	}
	log.Info().Str("audit", dest).Msg("audit log: connections, refusals, denials, takeovers, disconnects, plugin, admin and reload events")
	return nil
}

// observe makes the audit log, if any, the broker's observer. (A nil
// *audit.Logger must not become a non-nil broker.Observer.)
func (s *server) observe(opts *broker.Options) {
	if s.audit != nil {
		opts.Observer = s.audit
	}
}

// hostOptions has the plugin host report its events to the audit log.
func (s *server) hostOptions() []host.Option {
	if s.audit == nil {
		return nil
	}
	a := s.audit
	return []host.Option{host.WithEvents(func(ev host.Event) { a.Plugin(pluginEvent(ev)) })}
}

// pluginEvent translates a host event for the audit log (ops does not
// import host).
func pluginEvent(ev host.Event) audit.PluginEvent {
	class := audit.ClassPluginFailure
	switch ev.Kind {
	case host.PluginLoaded:
		class = audit.ClassPluginLoad
	case host.PluginSwapped:
		class = audit.ClassPluginSwap
	}
	return audit.PluginEvent{Class: class, Plugin: ev.Plugin, Path: ev.Path, Hash: ev.Hash, OldHash: ev.OldHash,
		Cause: ev.Cause, Point: ev.Point, Err: ev.Err}
}

// closeAudit writes what the audit log still holds and closes it; last, so
// that the disconnects of the shutdown are in it.
func (s *server) closeAudit() {
	if s.audit == nil {
		return
	}
	if err := s.audit.Close(); err != nil {
		s.log.Error().Err(err).Msg("closing the audit log")
	}
}

// auditReload records a reload's outcome, when there is an audit log.
func (s *server) auditReload(r ReloadResult) {
	if s.audit != nil {
		s.audit.ConfigReload(r.Trigger, r.Applied, r.NeedsRestart, r.Err)
	}
}
