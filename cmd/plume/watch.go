package main

import (
	"context"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settleAfter is how long a watched folder must stay quiet before the
// change is acted on: an editor's save or a certificate tool's swap is a
// burst of events, and one reload is enough.
const settleAfter = 100 * time.Millisecond

// watchFolders watches dirs and calls settle once they have been quiet for
// settleAfter after an event that note took (returned true for). It watches
// folders, not files: editors and certificate tools replace a file by a
// rename, and Kubernetes swaps a symbolic link beside it, neither of which a
// watch on the file sees. note and settle run on the watcher's goroutine,
// which ends with ctx; what is the watch for, in log lines.
func (s *server) watchFolders(ctx context.Context, what string, dirs []string, note func(fsnotify.Event) bool, settle func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			_ = w.Close()
			return err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer w.Close()
		var quiet <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if note(ev) {
					quiet = time.After(settleAfter)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn().Err(err).Str("watch", what).Msg("file watch")
			case <-quiet:
				quiet = nil
				settle()
			}
		}
	}()
	return nil
}
