package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

// ErrForeign reports a directory that holds something other than a store
// this package wrote. The store refuses it and changes nothing in it.
var ErrForeign = errors.New("not a Plume session store")

// The marker: a value under markerKey that says this database is a Plume
// session store and in which key layout. layoutVersion changes when keys
// change meaning; values carry their own versions (encode.go).
const (
	markerMagic   = "plume session store\n"
	layoutVersion = 1
)

// formatMajorVersion is the Pebble on-disk format, pinned rather than left
// to follow the library, so that upgrading Pebble never rewrites a user's
// directory into a format an older Plume cannot open. It is the newest of
// Pebble v2.1: footer checksums on tables (FormatTableFormatV6) and WAL sync
// chunks (FormatWALSyncChunks), which tell a torn log tail from damage.
const formatMajorVersion = pebble.FormatValueSeparation

// memTableSize is Pebble's default, 4 MiB, stated because the directory's
// size floor follows from it: Pebble keeps the current log and up to three
// recycled ones, each as long as a memtable, so some 16 MiB of log whatever
// the live data (measured with 16 MiB memtables: 52 MiB of log for 2 MiB of
// live data, TestQueueWorkloadDoesNotGrow). A queue-shaped workload still
// puts and deletes most messages within one memtable, and the flush then
// writes their tombstones alone; the log replayed at start stays short.
const memTableSize = 4 << 20

// open is Open on a file system of the caller's choice (nil: the disk);
// tests use Pebble's crashable in-memory one.
func open(cfg Config, log zerolog.Logger, fs vfs.FS) (_ *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	if fs == nil {
		fs = vfs.Default
	}
	fresh, err := checkDir(fs, cfg.Path)
	if err != nil {
		return nil, err
	}
	// Pebble reports some damage it finds while opening as a fatal error
	// (pebbleLogger panics with it): an error for our caller.
	defer recoverFatal(&err, cfg.Path)
	opts := &pebble.Options{
		FS:            fs,
		MemTableSize:  memTableSize,
		Logger:        pebbleLogger{log},
		EventListener: events(log, cfg.Path),
	}
	needMarker := fresh
	if !fresh {
		// Read what is there first, read-only: a read-write open would
		// replay the log into new tables and raise the database's format
		// (formatMajorVersion), changing a directory we may refuse.
		if needMarker, err = probe(cfg.Path, *opts); err != nil {
			return nil, err
		}
	}
	opts.FormatMajorVersion = formatMajorVersion
	db, err := pebble.Open(cfg.Path, opts)
	if err != nil {
		return nil, fmt.Errorf("session store %s: open: %w", cfg.Path, err)
	}
	if needMarker {
		marker := binary.AppendUvarint([]byte(markerMagic), layoutVersion)
		if err := db.Set(markerKey, marker, pebble.Sync); err != nil {
			return nil, errors.Join(fmt.Errorf("session store %s: write marker: %w", cfg.Path, err), db.Close())
		}
	}
	s := &Store{path: cfg.Path, mode: cfg.Mode, log: log, db: db, wo: pebble.Sync, stop: make(chan struct{})}
	if cfg.Mode == ModeAsync {
		s.wo, s.window = pebble.NoSync, cfg.SyncInterval
		s.syncer.Add(1)
		go s.syncLoop(max(cfg.SyncInterval/2, time.Millisecond))
	}
	log.Debug().Str("path", cfg.Path).Str("mode", cfg.Mode).Bool("created", fresh).Msg("session store opened")
	return s, nil
}

// checkDir makes path if it is missing and reports whether it is empty
// (fresh). A directory with files but no Pebble database in it is refused
// before Pebble touches it: Pebble would create a database among the files
// (and a LOCK file), and clean up files whose names it takes for its own.
func checkDir(fs vfs.FS, path string) (fresh bool, err error) {
	names, err := fs.List(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := fs.MkdirAll(path, 0o700); err != nil {
			return false, fmt.Errorf("session store %s: %w", path, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("session store %s: %w", path, err)
	}
	if len(names) == 0 {
		return true, nil
	}
	for _, n := range names {
		if n == "CURRENT" || strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.manifest.") {
			return false, nil
		}
	}
	slices.Sort(names)
	if len(names) > 3 {
		names = append(names[:3], "...")
	}
	return false, fmt.Errorf("session store %s: %w: it holds %s and no database; give the store an empty or new directory", path, ErrForeign, strings.Join(names, ", "))
}

// probe opens the database at path read-only and checks its marker. It
// refuses a database another program wrote, or one of a newer layout, and
// reports an empty database as needing the marker: one made by a first Open
// that ended before writing it.
func probe(path string, opts pebble.Options) (needMarker bool, err error) {
	opts.ReadOnly = true
	// A directory that held files must already be a database: Pebble
	// creates one only where there was nothing.
	opts.ErrorIfNotExists = true
	db, err := pebble.Open(path, &opts)
	if err != nil {
		if errors.Is(err, pebble.ErrDBDoesNotExist) {
			return false, fmt.Errorf("session store %s: %w: it holds files but no database", path, ErrForeign)
		}
		return false, fmt.Errorf("session store %s: open: %w", path, err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	v, closer, err := db.Get(markerKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := db.NewIter(nil)
		if err != nil {
			return false, fmt.Errorf("session store %s: %w", path, err)
		}
		empty := !it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return false, fmt.Errorf("session store %s: %w", path, err)
		}
		if !empty {
			return false, fmt.Errorf("session store %s: %w: a Pebble database without Plume's marker", path, ErrForeign)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("session store %s: read marker: %w", path, err)
	}
	defer closer.Close()
	rest, ok := bytes.CutPrefix(v, []byte(markerMagic))
	if !ok {
		return false, fmt.Errorf("session store %s: %w: a Pebble database with a foreign marker", path, ErrForeign)
	}
	layout, n := binary.Uvarint(rest)
	switch {
	case n <= 0 || n != len(rest):
		return false, fmt.Errorf("session store %s: marker %q: %w", path, v, ErrCorrupt)
	case layout != layoutVersion:
		return false, fmt.Errorf("session store %s: layout version %d: %w (this Plume reads %d)", path, layout, session.ErrUnknownVersion, layoutVersion)
	}
	return false, nil
}

// events reports damage Pebble finds as an error in the log. Pebble's
// default ends the process (Fatalf) even when the read that found it, in
// Load or Open, returns the error to us: a broker must refuse to start with
// a message naming the directory, not crash.
func events(log zerolog.Logger, path string) *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			log.Error().Str("path", path).Str("file", info.Path).Err(info.Details).Msg("session store: damaged file")
		},
		BackgroundError: func(err error) {
			log.Error().Str("path", path).Err(err).Msg("session store: background error")
		},
	}
}

// fatal is what pebbleLogger panics with on a fatal error, for Open,
// Commit and Load to recover.
type fatal struct{ error }

// recoverFatal, deferred, turns a fatal panic into *err; other panics go on.
func recoverFatal(err *error, path string) {
	p := recover()
	if p == nil {
		return
	}
	f, ok := p.(fatal)
	if !ok {
		panic(p)
	}
	*err = fmt.Errorf("session store %s: %w", path, f)
}

// pebbleLogger sends Pebble's messages to the broker's log. Pebble calls
// Fatalf when it cannot go on (a failed MANIFEST sync, a commit pipeline
// error, an invariant broken); its default logger exits the process. This
// one logs and panics instead, so that Open and Commit, which recover it,
// return an error; a fatal error in a background goroutine still ends the
// process, with the log line and a stack.
type pebbleLogger struct{ log zerolog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug().Msgf("pebble: "+format, args...)
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error().Msgf("pebble: "+format, args...)
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf("pebble: "+format, args...)
	l.log.Error().Err(err).Msg("session store: fatal error")
	panic(fatal{err})
}
