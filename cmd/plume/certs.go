package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// certReloader is a listener whose certificates reload without a restart
// (transport.TLS).
type certReloader interface {
	Name() string
	Files() []string
	Reload() (changed bool, err error)
	Serial() string
}

// reloadCerts reloads every TLS listener's certificates. A listener whose
// new files do not load keeps serving the old ones; the error, naming the
// file, is logged.
func (s *server) reloadCerts(why string) error {
	var errs []error
	for _, l := range s.listeners {
		if r, ok := l.(certReloader); ok {
			errs = append(errs, s.reloadCert(r, why))
		}
	}
	return errors.Join(errs...)
}

func (s *server) reloadCert(r certReloader, why string) error {
	log := s.log.With().Str("listener", r.Name()).Str("trigger", why).Logger()
	changed, err := r.Reload()
	if err != nil {
		log.Error().Err(err).Strs("files", r.Files()).Msg("certificate reload failed; the previous certificate keeps serving")
		return fmt.Errorf("listener %q: %w", r.Name(), err)
	}
	if changed {
		log.Info().Str("serial", r.Serial()).Msg("certificates reloaded; new handshakes use them")
	}
	return nil
}

// watchCerts reloads a TLS listener's certificates when a file in one of
// their folders changes (watchFolders). A change that leaves the files'
// bytes as they were reloads nothing: Reload compares them.
func (s *server) watchCerts(ctx context.Context) error {
	byDir := map[string][]certReloader{}
	for _, l := range s.listeners {
		r, ok := l.(certReloader)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, f := range r.Files() {
			if d := filepath.Dir(f); !seen[d] {
				seen[d] = true
				byDir[d] = append(byDir[d], r)
			}
		}
	}
	if len(byDir) == 0 {
		return nil
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	due := map[certReloader]bool{}
	return s.watchFolders(ctx, "certificates", dirs,
		func(ev fsnotify.Event) bool {
			for _, r := range byDir[filepath.Dir(filepath.Clean(ev.Name))] {
				due[r] = true
			}
			return len(due) > 0
		},
		func() {
			for r := range due {
				_ = s.reloadCert(r, "certificate files changed") // logged
			}
			clear(due)
		})
}
