package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

// put stores a session with a delivery and a retained message.
func put(t *testing.T, s *Store, id string) {
	t.Helper()
	m := &session.Message{Topic: "t/" + id, Payload: []byte(strings.Repeat("p", 100)), QoS: 1, ID: 1}
	err := s.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: id, Expiry: 60}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: id, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
		{Kind: session.PutRetained, Message: m},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// refused checks that Open of dir fails naming dir and matching target,
// and that it changed no file in dir.
func refused(t *testing.T, dir string, target error) error {
	t.Helper()
	before := listing(t, dir)
	s, err := Open(Config{Path: dir}, zerolog.Nop())
	if err == nil {
		s.Close()
		t.Fatalf("Open of %s succeeded, want an error", dir)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("the error does not name the directory: %v", err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("Open: %v, want %v", err, target)
	}
	if after := listing(t, dir); !slices.Equal(before, after) {
		t.Errorf("Open changed the directory it refused:\nbefore %v\nafter  %v", before, after)
	}
	return err
}

// listing is the names, sizes and times of the files in dir.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "LOCK" {
			continue // (re)made by every open, refused or not, and empty
		}
		out = append(out, fmt.Sprintf("%s %d %s", e.Name(), info.Size(), info.ModTime()))
	}
	return out
}

func TestOpenCreatesAMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openT(t, Config{Path: dir})
	put(t, s, "c1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Config{Path: dir})
	defer s.Close()
	snap, err := s.Load()
	if err != nil || len(snap.Sessions) != 1 {
		t.Fatalf("Load after reopen: %d sessions, %v", len(snap.Sessions), err)
	}
}

func TestOpenRefusesADirectoryOfOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "000001.log", "photo.jpg"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not ours"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	refused(t, dir, ErrForeign)
}

func TestOpenRefusesAPebbleDatabaseWithoutTheMarker(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{zerolog.Nop()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's key"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Refused, with no file changed: not even the format raised.
	refused(t, dir, ErrForeign)
	// The other program's data is still there.
	db, err = pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{zerolog.Nop()}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, c, err := db.Get([]byte("someone else's key")); err != nil {
		t.Fatalf("the foreign key is gone: %v", err)
	} else {
		c.Close()
	}
}

// An empty Pebble database, left by a first Open that stopped before writing
// the marker, is taken.
func TestOpenTakesAnEmptyPebbleDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{zerolog.Nop()}, FormatMajorVersion: formatMajorVersion})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openT(t, Config{Path: dir})
	put(t, s, "c1")
	s.Close()
}

func TestOpenRefusesANewerLayoutOrAForeignMarker(t *testing.T) {
	for name, marker := range map[string]string{
		"newer layout":   markerMagic + "\x02",
		"foreign marker": "some other program\n\x01",
		"damaged marker": markerMagic + "\x80",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, Config{Path: dir})
			if err := s.db.Set(markerKey, []byte(marker), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			s.Close()
			err := refused(t, dir, nil)
			want := map[string]error{"newer layout": session.ErrUnknownVersion, "foreign marker": ErrForeign, "damaged marker": ErrCorrupt}[name]
			if !errors.Is(err, want) {
				t.Fatalf("Open: %v, want %v", err, want)
			}
		})
	}
}

func TestOpenRefusesADirectoryAnotherStoreHolds(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Config{Path: dir})
	defer s.Close()
	other, err := Open(Config{Path: dir}, zerolog.Nop())
	if err == nil {
		other.Close()
		t.Fatal("a second Open of a directory held open succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("the error does not name the directory: %v", err)
	}
	put(t, s, "c1") // the first store is unharmed
}

func TestOpenRefusesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(Config{Path: path}, zerolog.Nop()); err == nil {
		s.Close()
		t.Fatal("Open of a regular file succeeded")
	} else if !strings.Contains(err.Error(), path) {
		t.Fatalf("the error does not name the path: %v", err)
	}
}

// storeFiles writes a store with data in tables (flushed) and returns the
// directory and the names of its files matching pattern.
func storeFiles(t *testing.T, pattern string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	s := openT(t, Config{Path: dir})
	for _, id := range []string{"a", "b", "c"} {
		put(t, s, id)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in %s (%v)", pattern, dir, err)
	}
	return dir, files
}

// openAndLoad opens dir and loads it; damage must show as an error from
// one or the other, never a panic or a silent success.
func openAndLoad(t *testing.T, dir string) error {
	t.Helper()
	s, err := Open(Config{Path: dir}, zerolog.Nop())
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Load()
	return err
}

func TestDamagedFilesGiveAnError(t *testing.T) {
	for _, c := range []struct {
		name, pattern string
		damage        func(data []byte) []byte
	}{
		{"garbled table", "*.sst", func(b []byte) []byte {
			for i := len(b) / 4; i < len(b)/2; i++ {
				b[i] ^= 0x5A
			}
			return b
		}},
		{"truncated table", "*.sst", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated manifest", "MANIFEST-*", func(b []byte) []byte { return b[:len(b)/3] }},
		{"manifest marker deleted", "marker.manifest.*", nil},
		{"garbled manifest", "MANIFEST-*", func(b []byte) []byte {
			for i := range b {
				b[i] ^= 0xFF
			}
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, files := storeFiles(t, c.pattern)
			for _, f := range files {
				if c.damage == nil {
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, c.damage(b), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := openAndLoad(t, dir)
			if err == nil {
				t.Fatalf("a store with a %s opened and loaded without error", c.name)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("the error does not name the directory: %v", err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
}
