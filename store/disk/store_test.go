package disk

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
	"github.com/plumemq/plume/store/storetest"
)

// openT opens a store in dir for a test; the caller closes it.
func openT(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open %s: %v", cfg.Path, err)
	}
	return s
}

// harness runs the suite on a store in a temporary directory; Reopen
// closes it and opens the directory again.
func harness(mode string) storetest.Harness {
	return storetest.Harness{
		Open: func(t *testing.T) session.Store {
			return openT(t, Config{Path: filepath.Join(t.TempDir(), "store"), Mode: mode})
		},
		Reopen: func(t *testing.T, s session.Store) session.Store {
			ds := s.(*Store)
			if err := ds.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openT(t, Config{Path: ds.Path(), Mode: ds.Mode()})
		},
		PlantFuture: func(t *testing.T, s session.Store, id string) {
			// A record of the next version, with bytes this version could
			// not read: Load must refuse it by its version, not by luck.
			v := binary.AppendUvarint(nil, codec.RecordVersion+1)
			v = append(v, 0xFF, 0xFF, 0xFF)
			db := s.(*Store).db
			if err := db.Set(recordKey(id), v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformanceSync(t *testing.T)  { storetest.Run(t, harness(ModeSync)) }
func TestConformanceAsync(t *testing.T) { storetest.Run(t, harness(ModeAsync)) }

// testLog is a logger that writes to the test's log.
func testLog(t testing.TB) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }
