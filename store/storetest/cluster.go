package storetest

import (
	"testing"

	"github.com/plumemq/plume/core/session"
)

// A cluster store loads, per ingest shard, the position of the last
// Position op committed; a Forward is accepted. A single-node store refuses
// both, and the Commit that held one changed nothing (decision 0055).
func clusterOps(t *testing.T, h Harness) {
	o := open(t, h)
	subject := "plume.in.1.t.a"
	if h.IngestSubject != nil {
		subject = h.IngestSubject(o.s)
	}
	fwd := session.Op{Kind: session.Forward, Forward: &session.Forwarded{
		Subject: subject, Data: []byte("forwarded"), ID: "storetest.1"}}
	pos := func(shard uint32, seq uint64) session.Op {
		return session.Op{Kind: session.Position, Shard: shard, Seq: seq}
	}
	if !h.Clustered {
		for _, op := range []session.Op{fwd, pos(0, 1)} {
			if err := o.s.Commit([]session.Op{putSession(minimal("c")), op}); err == nil {
				t.Fatalf("a single-node store accepted a %s op", op.Kind)
			}
		}
		if snap := o.load(); len(snap.Sessions) != 0 || len(snap.Positions) != 0 {
			t.Fatalf("refused Commits left %d sessions, positions %v", len(snap.Sessions), snap.Positions)
		}
		return
	}
	if snap := o.load(); len(snap.Positions) != 0 {
		t.Fatalf("an empty store loads positions %v", snap.Positions)
	}
	o.commit(pos(3, 7), fwd, pos(0, 2))
	o.commit(pos(3, 9))
	o.commit(putSession(minimal("c")), pos(0, 4))
	snap := o.load()
	want := session.Positions{4, 0, 0, 9}
	for k := range max(len(want), len(snap.Positions)) {
		if snap.Positions.At(k) != want.At(k) {
			t.Fatalf("positions %v, want %v", snap.Positions, want)
		}
	}
	if len(snap.Sessions) != 1 {
		t.Fatalf("%d sessions, want the one committed with a position", len(snap.Sessions))
	}
}
