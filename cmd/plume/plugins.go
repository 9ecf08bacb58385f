package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// reloadPlugins re-reads the config file and swaps the plugin chain. A file
// that does not parse, or a plugin that does not load, leaves the running
// chain as it is; the log says why.
func (s *server) reloadPlugins(ctx context.Context, why string) {
	if s.plugins == nil || s.configPath == "" {
		return
	}
	cfg, err := config.Load(s.configPath)
	if err != nil {
		s.log.Error().Err(err).Str("trigger", why).Msg("config reload failed; plugins unchanged")
		return
	}
	if err := s.plugins.Reload(ctx, cfg.Plugins); err != nil {
		s.log.Error().Err(err).Str("trigger", why).Msg("plugin reload failed; the previous plugins keep serving")
		return
	}
	s.log.Info().Str("trigger", why).Int("plugins", len(cfg.Plugins.Plugins)).Msg("plugins reloaded")
}

// watchConfig reloads the plugin section when the config file changes
// (written in place, or replaced by a rename as editors do). Other settings
// need a restart; the log says so when they differ.
func (s *server) watchConfig(ctx context.Context, log zerolog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	// Watch the folder: a rename-over replaces the file's inode.
	if err := w.Add(filepath.Dir(s.configPath)); err != nil {
		_ = w.Close()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer w.Close()
		var debounce <-chan time.Time
		name := filepath.Clean(s.configPath)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					debounce = time.After(100 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn().Err(err).Msg("config watch")
			case <-debounce:
				debounce = nil
				s.reloadPlugins(ctx, "config file changed")
			}
		}
	}()
	return nil
}
