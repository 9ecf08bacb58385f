package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// ReloadResult is what one reload did: the keys it applied, the keys that
// changed but need a restart, and the error that stopped it or that one part
// of it met (a listener that did not bind, a plugin that did not load).
// SIGHUP, the config file's watcher and the admin API's POST /api/v1/reload
// all get one.
type ReloadResult struct {
	Trigger      string   `json:"trigger"`
	Applied      []string `json:"applied"`
	NeedsRestart []string `json:"needs_restart"`
	// Err is set when the file did not load or validate (then nothing
	// changed: Applied and NeedsRestart are empty) or when part of the
	// change failed (what did apply is in Applied; the log says the rest).
	Err error `json:"-"`
}

// errNoConfigFile is a reload's answer when the broker runs without a file.
var errNoConfigFile = errors.New("no config file to reload: the broker runs on flags and defaults")

// reload re-reads the config file, compares it with the settings in force
// key by key (reloadKeys), applies what a running broker can take and warns,
// naming each key, about what needs a restart. A file that does not load or
// validate changes nothing. Certificates are reloaded every time (a file may
// change without its path changing), and so are plugins (a module may be
// rebuilt at the same path). One reload runs at a time.
func (s *server) reload(ctx context.Context, trigger string) ReloadResult {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	res := ReloadResult{Trigger: trigger}
	defer func() { s.auditReload(res) }() // failed reloads too
	log := s.log.With().Str("trigger", trigger).Logger()
	if s.stopping.Load() {
		res.Err = errors.New("the broker is stopping")
		return res
	}
	if s.configPath == "" {
		_ = s.reloadCerts(trigger) // logged per listener
		res.Err = errNoConfigFile
		log.Warn().Err(res.Err).Msg("config reload: certificates reloaded, nothing else to do")
		return res
	}
	next, err := config.Load(s.configPath)
	if err == nil && s.flags != nil {
		s.flags(&next) // the command line still overrides the file
		err = next.Validate()
	}
	if err != nil {
		res.Err = fmt.Errorf("config reload: %w", err)
		log.Error().Err(err).Msg("config reload failed: the file does not load; nothing changed")
		return res
	}
	prev := s.cfg
	changed := changedKeys(prev, next)
	due := map[string]bool{}
	for _, k := range changed {
		r := ruleFor(k)
		if r == nil || r.apply == "" {
			why := "not known to the reload"
			if r != nil {
				why = r.note
			}
			res.NeedsRestart = append(res.NeedsRestart, k)
			log.Warn().Str("key", k).Str("why", why).Msg("config changed: " + k + " needs a restart to take effect")
			continue
		}
		res.Applied = append(res.Applied, k)
		due[r.apply] = true
	}
	var errs []error
	r := &reloading{ctx: ctx, trigger: trigger, log: log, prev: &prev, next: &next}
	for _, a := range appliers {
		if !due[a.name] && !a.always {
			continue
		}
		if err := a.fn(s, r); err != nil {
			errs = append(errs, err)
		}
	}
	// What is in force now: the new file, but for what needs a restart.
	s.cfg = keepRestartKeys(prev, next)
	res.Err = errors.Join(errs...)
	ev := log.Info()
	if res.Err != nil {
		ev = log.Warn().Err(res.Err)
	}
	ev.Strs("applied", orNone(res.Applied)).Strs("needs_restart", orNone(res.NeedsRestart)).Msg("config reloaded")
	return res
}

// setFlags has reloads apply the command line's overrides to the file:
// under reloadMu, since the file's watcher may already reload.
func (s *server) setFlags(f func(*config.Config)) {
	s.reloadMu.Lock()
	s.flags = f
	s.reloadMu.Unlock()
}

// orNone keeps a log line's list a list: [] rather than null.
func orNone(keys []string) []string {
	if keys == nil {
		return []string{}
	}
	return keys
}

// keepRestartKeys is next with the sections that need a restart as they
// were in prev, so that the next reload warns again rather than thinking
// them applied.
func keepRestartKeys(prev, next config.Config) config.Config {
	next.Store = prev.Store
	next.Log.Format = prev.Log.Format
	next.Plugins.Engine, next.Plugins.CacheDir = prev.Plugins.Engine, prev.Plugins.CacheDir
	return next
}

// changedKeys lists the keys that differ between prev and next: listeners
// matched by name (listeners.go's rules), the plugin chain as one key, the
// rest field by field.
func changedKeys(prev, next config.Config) []string {
	a, b := prev, next
	a.Listeners, b.Listeners = nil, nil
	a.Plugins.Plugins, b.Plugins.Plugins = nil, nil
	keys := config.Changed(a, b, "")
	if !reflect.DeepEqual(prev.Plugins.Plugins, next.Plugins.Plugins) {
		keys = append(keys, "plugins.chain")
	}
	return append(keys, listenerChanges(prev.Listeners, next.Listeners)...)
}

// watchConfig reloads when the config file changes (written in place, or
// replaced by a rename as editors do: watchFolders).
func (s *server) watchConfig(ctx context.Context) error {
	name := filepath.Clean(s.configPath)
	return s.watchFolders(ctx, "config file", []string{filepath.Dir(name)},
		func(ev fsnotify.Event) bool {
			return filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0
		},
		func() { s.reload(ctx, "config file changed") })
}

// applyLogLevel sets the level every logger of the process writes at.
func applyLogLevel(_ *server, r *reloading) error {
	level, err := zerolog.ParseLevel(r.next.Log.Level)
	if err != nil {
		return fmt.Errorf("log.level: %w", err) // Validate checked it
	}
	zerolog.SetGlobalLevel(level)
	r.log.WithLevel(max(level, zerolog.InfoLevel)).Str("level", level.String()).Msg("log level changed")
	return nil
}

// applyPlugins swaps the plugin chain. A plugin that does not load leaves
// the previous one serving; the error says which.
func applyPlugins(s *server, r *reloading) error {
	if s.plugins == nil {
		return nil
	}
	hc := r.next.Plugins
	hc.Engine, hc.CacheDir = r.prev.Plugins.Engine, r.prev.Plugins.CacheDir // restart keys
	if err := s.plugins.Reload(r.ctx, hc); err != nil {
		r.log.Error().Err(err).Msg("plugin reload failed; the previous plugins keep serving")
		return fmt.Errorf("plugins: %w", err)
	}
	r.log.Info().Int("plugins", len(hc.Plugins)).Msg("plugins reloaded")
	return nil
}

// applyCerts reloads every TLS listener's certificates from their files.
func applyCerts(s *server, r *reloading) error {
	if err := s.reloadCerts(r.trigger); err != nil {
		return fmt.Errorf("certificates: %w", err) // logged per listener
	}
	return nil
}

// reloading is one reload in progress, as its appliers see it.
type reloading struct {
	ctx        context.Context
	trigger    string
	log        zerolog.Logger // with the trigger
	prev, next *config.Config
}
