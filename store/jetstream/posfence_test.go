package jetstream

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// A node's position never goes back: a write of it that lands out of
// order (an attempt whose acknowledgement timed out, stored after a newer
// one) does not replace a position further on, and this node's own write
// refused because an earlier attempt landed meanwhile settles on what is
// stored when that is further, or is written again when it is behind.
func TestAPositionNeverGoesBack(t *testing.T) {
	nc := connect(t, runServer(t))
	s := openT(t, nc, freshConfig("n1"))
	if _, err := s.Load(); err != nil { // as the broker does first
		t.Fatal(err)
	}
	pos := func(seq uint64) []session.Op { return []session.Op{{Kind: session.Position, Shard: 1, Seq: seq}} }
	if err := s.Commit(pos(10)); err != nil {
		t.Fatal(err)
	}
	subj := s.names.positionSubject(1)
	// Another write of the subject this node never heard back about.
	stray := func(v uint64) {
		t.Helper()
		if _, err := s.js.Publish(context.Background(), subj, binary.BigEndian.AppendUint64(nil, v)); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() uint64 {
		t.Helper()
		m, err := s.pos.GetLastMsgForSubject(context.Background(), subj)
		if err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint64(m.Data)
	}

	stray(30) // an earlier attempt of a later position, stored unanswered
	if err := s.Commit(pos(25)); err != nil {
		t.Fatalf("a position refused behind a further one: %v", err)
	}
	if got := stored(); got != 30 {
		t.Fatalf("stored position %d after writing 25 over 30: it went back", got)
	}
	stray(15) // a stale write landing late
	if err := s.Commit(pos(40)); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != 40 {
		t.Fatalf("stored position %d, want 40 written again over the stale 15", got)
	}
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Positions.At(1) != 40 {
		t.Fatalf("loaded position %d, want 40", snap.Positions.At(1))
	}
}
