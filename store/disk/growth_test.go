package disk

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/session"
)

// dirBytes sums the sizes of the files in dir whose name ends in suffix
// ("" for all).
func dirBytes(t testing.TB, dir, suffix string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// settle waits until Pebble has no flush or compaction running.
func settle(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for quiet := 0; quiet < 3; {
		m := s.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("Pebble's compactions did not settle in 2 minutes")
		}
		time.Sleep(10 * time.Millisecond) // polling Pebble's counters: there is nothing to wait on
	}
}

// A queue-shaped workload: every round publishes 500 messages of 1 KiB to
// two sessions each and acknowledges the oldest 500 (deliveries and
// messages deleted), and one session is ended and made again (a range
// deletion). Live data stays at 2,000 messages, about 2 MiB, while some 40
// MiB go through. The tables on disk must stay proportional to the live
// data: a store whose deletes were not reclaimed (tombstones piling up over
// the values they hide) would hold tens of MiB.
func TestQueueWorkloadDoesNotGrow(t *testing.T) {
	const payload, window, perRound, sessions = 1024, 2000, 500, 20
	// 80 rounds: some 40 MiB through 4 MiB memtables, ten flushes, enough
	// for Pebble to compact level 0 more than once.
	const rounds = 80
	dir := filepath.Join(t.TempDir(), "store")
	s := openT(t, Config{Path: dir, Mode: ModeAsync})
	defer s.Close()
	rng := rand.NewChaCha8([32]byte{1, 2}) // incompressible payloads
	body := make([]byte, payload)
	client := func(i uint64) string { return fmt.Sprintf("c%02d", i%sessions) }
	var next, oldest uint64 = 1, 1
	var ops []session.Op
	for i := range sessions {
		ops = append(ops, session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: client(uint64(i))}})
	}
	for round := range rounds {
		for range perRound {
			if _, err := rng.Read(body); err != nil {
				t.Fatal(err)
			}
			m := &session.Message{Topic: "q/t", Payload: append([]byte(nil), body...), QoS: 1, ID: next}
			ops = append(ops, session.Op{Kind: session.PutMessage, Message: m},
				session.Op{Kind: session.PutDelivery, Client: client(next), Delivery: session.Delivery{Msg: m, QoS: 1, Seq: next}},
				session.Op{Kind: session.PutDelivery, Client: client(next + 1), Delivery: session.Delivery{Msg: m, QoS: 1, Seq: next}})
			next++
		}
		for ; next-oldest > window; oldest++ {
			ops = append(ops, session.Op{Kind: session.DeleteDelivery, Client: client(oldest), Seq: oldest},
				session.Op{Kind: session.DeleteDelivery, Client: client(oldest + 1), Seq: oldest},
				session.Op{Kind: session.DeleteMessage, MessageID: oldest})
		}
		// One session ends and starts again: a range deletion over its keys.
		// Its deliveries' messages stay for the other session that holds them.
		ended := client(uint64(round))
		ops = append(ops, session.Op{Kind: session.DeleteSession, Client: ended},
			session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: ended}})
		if err := s.Commit(ops); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	settle(t, s)
	live := int64(window * payload)
	written := int64(rounds * perRound * payload)
	tables, total := dirBytes(t, dir, ".sst"), dirBytes(t, dir, "")
	if testing.Verbose() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			info, _ := e.Info()
			t.Logf("%s %d", e.Name(), info.Size())
		}
	}
	t.Logf("%d MiB written, %d KiB live: tables %d KiB, directory %d KiB", written>>20, live>>10, tables>>10, total>>10)
	if limit := 4*live + 1<<20; tables > limit {
		t.Fatalf("tables hold %d KiB for %d KiB of live data (limit %d KiB): deletes are not reclaimed", tables>>10, live>>10, limit>>10)
	}
	// Beyond the tables: the log (the current file and up to three
	// recycled ones, a memtable long each), the MANIFEST and small files.
	if limit := 4*live + 1<<20 + 4*memTableSize + 1<<20; total > limit {
		t.Fatalf("the directory holds %d KiB for %d KiB of live data (limit %d KiB)", total>>10, live>>10, limit>>10)
	}
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range snap.Sessions {
		n += len(r.Queued)
	}
	if n == 0 || n > 2*window {
		t.Fatalf("%d deliveries loaded, want at most %d and some", n, 2*window)
	}
}
