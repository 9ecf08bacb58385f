package journal_test

import (
	"testing"
	"time"

	"github.com/plumemq/plume/core/session"
)

// A batch holds one Position per shard, the last one, where the first was
// appended; a Forward is committed as it was given (decision 0055).
func TestPositionsCompactToTheLastPerShard(t *testing.T) {
	s := newRecordingStore()
	s.gate = make(chan struct{})
	j := newJournal(t, s)
	j.DeleteRetained("first")
	<-s.entered // the first batch is in Commit: what follows is one batch

	f := &session.Forwarded{Subject: "p.in.0.t.a", Data: []byte("x"), ID: "n1.1"}
	j.Position(1, 10)
	j.Forward(f)
	j.Position(2, 5)
	j.Position(1, 11)
	j.Position(1, 12)
	tk := j.Latest()
	close(s.gate)
	if !j.Wait(tk, 20*time.Second) {
		t.Fatal("the batch was not committed")
	}
	b := s.batches()
	if len(b) != 2 {
		t.Fatalf("%d commits, want 2", len(b))
	}
	got := b[1]
	want := []session.Op{
		{Kind: session.Position, Shard: 1, Seq: 12},
		{Kind: session.Forward, Forward: f},
		{Kind: session.Position, Shard: 2, Seq: 5},
	}
	if len(got) != len(want) {
		t.Fatalf("batch %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].Shard != want[i].Shard || got[i].Seq != want[i].Seq || got[i].Forward != want[i].Forward {
			t.Fatalf("op %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// The next batch starts afresh: shard 1's position is written again.
	j.Position(1, 13)
	if !j.Wait(j.Latest(), 20*time.Second) {
		t.Fatal("the second batch was not committed")
	}
	b = s.batches()
	if last := b[len(b)-1]; len(last) != 1 || last[0].Seq != 13 {
		t.Fatalf("next batch %+v, want the one position 13", last)
	}
}

// MemoryStore accepts both kinds and loads the last position per shard.
func TestMemoryStorePositions(t *testing.T) {
	s := session.NewMemoryStore()
	err := s.Commit([]session.Op{
		{Kind: session.Forward, Forward: &session.Forwarded{Subject: "p.in.0.t.a", ID: "x"}},
		{Kind: session.Position, Shard: 2, Seq: 7}, {Kind: session.Position, Shard: 0, Seq: 3},
		{Kind: session.Position, Shard: 2, Seq: 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p := snap.Positions; len(p) != 3 || p.At(0) != 3 || p.At(1) != 0 || p.At(2) != 9 || p.At(5) != 0 {
		t.Fatalf("positions %v, want [3 0 9]", p)
	}
	if err := s.Commit([]session.Op{{Kind: session.Forward}}); err == nil {
		t.Fatal("a Forward without a subject was accepted")
	}
}
