package disk

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/plumemq/plume/core/session"
)

// keyCount counts the keys under sp.
func keyCount(t *testing.T, s *Store, sp span) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: sp.lo, UpperBound: sp.hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n
}

// Load deletes what it does not return: a client's keys without a record,
// deliveries of a missing message, messages nothing refers to; and keeps
// everything else.
func TestLoadDeletesLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Config{Path: dir})
	m, lonely, gone := &session.Message{Topic: "a", ID: 1}, &session.Message{Topic: "b", ID: 2}, &session.Message{Topic: "c", ID: 3}
	err := s.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "kept"}},
		{Kind: session.PutMessage, Message: m}, {Kind: session.PutMessage, Message: lonely}, {Kind: session.PutMessage, Message: gone},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: gone, QoS: 1, Seq: 2}},
		{Kind: session.PutInbound, Client: "kept", PacketID: 4},
		{Kind: session.PutDelivery, Client: "ghost", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
		{Kind: session.PutInbound, Client: "ghost", PacketID: 1},
		{Kind: session.DeleteMessage, MessageID: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, Config{Path: dir})
	s.log = testLog(t)
	defer s.Close()
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sessions) != 1 || len(snap.Sessions[0].Queued) != 1 || len(snap.Sessions[0].InboundQoS2) != 1 {
		t.Fatalf("loaded %+v, want kept with one delivery and one inbound id", snap.Sessions)
	}
	if n := keyCount(t, s, clientSpan("ghost")); n != 0 {
		t.Errorf("%d keys of the client without a record are left", n)
	}
	if n := keyCount(t, s, clientSpan("kept")); n != 3 {
		t.Errorf("kept has %d keys, want 3 (record, delivery of message 1, inbound id)", n)
	}
	if n := keyCount(t, s, messageSpan); n != 1 {
		t.Errorf("%d messages left, want 1 (message 2 is referred to by nothing)", n)
	}
}

// Commit and Load are safe for concurrent use (the journal commits from one
// goroutine, but nothing stops an embedder); run with -race.
func TestConcurrentCommits(t *testing.T) {
	for _, mode := range []string{ModeSync, ModeAsync} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			s := openT(t, Config{Path: dir, Mode: mode})
			const writers, each = 6, 40
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						id := fmt.Sprintf("w%d-%d", w, i)
						m := &session.Message{Topic: id, ID: uint64(w*each + i + 1)}
						ops := []session.Op{
							{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: id}},
							{Kind: session.PutMessage, Message: m},
							{Kind: session.PutDelivery, Client: id, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
						}
						if i%4 == 0 {
							ops = append(ops, session.Op{Kind: session.DeleteSession, Client: id}, session.Op{Kind: session.DeleteMessage, MessageID: m.ID})
						}
						if err := s.Commit(ops); err != nil {
							errs <- err
							return
						}
						if i%10 == 0 {
							if _, err := s.Load(); err != nil {
								errs <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			s.Close()
			s = openT(t, Config{Path: dir})
			defer s.Close()
			snap, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if want := writers * (each - each/4); len(snap.Sessions) != want {
				t.Fatalf("%d sessions after concurrent commits, want %d", len(snap.Sessions), want)
			}
			for _, r := range snap.Sessions {
				if len(r.Queued) != 1 || r.Queued[0].Msg.Topic != r.ID {
					t.Fatalf("session %s: %+v", r.ID, r.Queued)
				}
			}
		})
	}
}
