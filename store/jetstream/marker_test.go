package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/plumemq/plume/core/session"
)

// When a session's delete marker expires, the server puts a marker of its
// own in the bucket (LimitMarkerTTL): Load must take it for a deletion,
// not for a damaged record.
func TestServerDeleteMarkerIsADeletion(t *testing.T) {
	old := tombstoneTTL
	tombstoneTTL = time.Second
	t.Cleanup(func() { tombstoneTTL = old })
	s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
	rec := &session.Record{Version: session.FormatVersion, ID: "gone"}
	if err := s.Commit([]session.Op{{Kind: session.PutSession, Record: rec}, {Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "kept"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([]session.Op{{Kind: session.DeleteSession, Client: "gone"}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := s.kvSt.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq // our delete marker
	w, err := s.kv.Watch(ctx, token("gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(time.Minute)
	for marked := false; !marked; {
		select {
		case e := <-w.Updates():
			marked = e != nil && e.Revision() > last // the server's marker replaced ours
		case <-timeout:
			t.Fatal("no server marker within a minute of the delete marker's 1s TTL")
		}
	}
	snap := load(t, s)
	if len(snap.Sessions) != 1 || snap.Sessions[0].ID != "kept" {
		t.Fatalf("loaded %s, want only kept", dump(snap))
	}
}
