package main

import (
	"context"
	"path/filepath"

	"github.com/fsnotify/fsnotify"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// reloadPlugins re-reads the config file and swaps the plugin chain. A file
// that does not parse, or a plugin that does not load, leaves the running
// chain as it is; the log says why, and so does the error (for the admin
// API's reload).
func (s *server) reloadPlugins(ctx context.Context, why string) error {
	if s.plugins == nil || s.configPath == "" {
		return nil
	}
	cfg, err := config.Load(s.configPath)
	if err != nil {
		s.log.Error().Err(err).Str("trigger", why).Msg("config reload failed; plugins unchanged")
		return err
	}
	if err := s.plugins.Reload(ctx, cfg.Plugins); err != nil {
		s.log.Error().Err(err).Str("trigger", why).Msg("plugin reload failed; the previous plugins keep serving")
		return err
	}
	s.log.Info().Str("trigger", why).Int("plugins", len(cfg.Plugins.Plugins)).Msg("plugins reloaded")
	return nil
}

// watchConfig reloads the plugin section when the config file changes
// (written in place, or replaced by a rename as editors do: watchFolders).
// Other settings need a restart; the log says so when they differ.
func (s *server) watchConfig(ctx context.Context) error {
	name := filepath.Clean(s.configPath)
	return s.watchFolders(ctx, "config file", []string{filepath.Dir(name)},
		func(ev fsnotify.Event) bool {
			return filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0
		},
		func() { _ = s.reloadPlugins(ctx, "config file changed") }) // logged
}
