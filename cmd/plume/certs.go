package main

import (
	"context"
	"path/filepath"
	"time"

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
func (s *server) reloadCerts(why string) {
	for _, l := range s.listeners {
		if r, ok := l.(certReloader); ok {
			s.reloadCert(r, why)
		}
	}
}

func (s *server) reloadCert(r certReloader, why string) {
	log := s.log.With().Str("listener", r.Name()).Str("trigger", why).Logger()
	changed, err := r.Reload()
	if err != nil {
		log.Error().Err(err).Strs("files", r.Files()).Msg("certificate reload failed; the previous certificate keeps serving")
		return
	}
	if changed {
		log.Info().Str("serial", r.Serial()).Msg("certificates reloaded; new handshakes use them")
	}
}

// watchCerts reloads a TLS listener's certificates when a file in one of
// their folders changes. It watches the folders, not the files: editors and
// certificate tools replace a file by a rename, and Kubernetes swaps a
// symbolic link beside it, neither of which a watch on the file sees. A
// change that leaves the files' bytes as they were reloads nothing
// (Reload compares them), and a burst of events is one reload.
func (s *server) watchCerts(ctx context.Context) error {
	dirs := map[string][]certReloader{}
	for _, l := range s.listeners {
		r, ok := l.(certReloader)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, f := range r.Files() {
			if d := filepath.Dir(f); !seen[d] {
				seen[d] = true
				dirs[d] = append(dirs[d], r)
			}
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			_ = w.Close()
			return err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer w.Close()
		var debounce <-chan time.Time
		due := map[certReloader]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				for _, r := range dirs[filepath.Dir(filepath.Clean(ev.Name))] {
					due[r] = true
				}
				if len(due) > 0 && debounce == nil {
					debounce = time.After(100 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn().Err(err).Msg("certificate watch")
			case <-debounce:
				debounce = nil
				for r := range due {
					s.reloadCert(r, "certificate files changed")
				}
				clear(due)
			}
		}
	}()
	return nil
}
