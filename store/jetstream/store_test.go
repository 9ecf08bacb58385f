package jetstream

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
	"github.com/plumemq/plume/store/storetest"
)

// TestConformance runs the store suite against stores on one in-process
// JetStream server, each with streams of its own; Reopen closes the store
// and opens its streams again.
func TestConformance(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) session.Store { return openT(t, nc, freshConfig("n1")) },
		Reopen: func(t *testing.T, s session.Store) session.Store {
			js := s.(*Store)
			if err := js.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openT(t, nc, js.Config())
		},
		Clustered:     true,
		IngestSubject: func(s session.Store) string { return s.(*Store).Config().Prefix + ".in.1.t.a" },
		PlantFuture: func(t *testing.T, s session.Store, id string) {
			js := s.(*Store)
			v := appendString(nil, js.Node())
			v = append(v, codec.RecordVersion+1, 0xFF, 0xFF, 0xFF)
			if _, err := js.js.Publish(context.Background(), js.names.sessionSubject(id), v); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// A Forward is written to its ingest shard's stream with its id as
// Nats-Msg-Id: a Commit repeated (a retry, the commit log applied again)
// stores it once; a Forward outside the ingest is refused before anything
// is written (decision 0055). (Several Forwards to one shard in one Commit
// are one batch: pack_test.go.)
func TestForwardIsWrittenOnceToItsIngestShard(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	s := openT(t, nc, freshConfig("n1"))
	p := s.Config().Prefix
	fwd := func(id string) session.Op {
		return session.Op{Kind: session.Forward, Forward: &session.Forwarded{Subject: p + ".in.2.t.a", Data: []byte(id), ID: "n1." + id}}
	}
	put := session.Op{Kind: session.PutInbound, Client: "c", PacketID: 1}
	for _, ops := range [][]session.Op{{fwd("1")}, {fwd("1")}, {fwd("2"), put}, {fwd("2"), put}, {fwd("3")}, {fwd("4")}} {
		if err := s.Commit(ops); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.js.Stream(context.Background(), IngestStream(p, 2))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Fatalf("%d messages in the ingest shard, want 4 (two Commits repeated)", info.State.Msgs)
	}
	for seq, want := range []string{"1", "2", "3", "4"} {
		m, err := st.GetMsg(context.Background(), uint64(seq+1))
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != want || m.Header.Get("Nats-Msg-Id") != "n1."+want {
			t.Fatalf("message %d: %q id %q, want %q", seq+1, m.Data, m.Header.Get("Nats-Msg-Id"), want)
		}
	}
	bad := session.Op{Kind: session.Forward, Forward: &session.Forwarded{Subject: "elsewhere.in.2", ID: "x"}}
	if err := s.Commit([]session.Op{put, bad}); err == nil {
		t.Fatal("a Forward outside the ingest was accepted")
	}
}

// A Commit of Forwards and positions alone writes no commit log entry
// (each write stands alone: needsLog); one that also holds an inbound QoS 2
// id, or deliveries, is logged, so that the id lands with its Forward.
func TestOnlyCommitsOfDependentWritesAreLogged(t *testing.T) {
	s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
	p := s.Config().Prefix
	fwd := func(id string) session.Op {
		return session.Op{Kind: session.Forward, Forward: &session.Forwarded{Subject: p + ".in.2.t.a", Data: []byte(id), ID: "n1." + id}}
	}
	pos := func(k uint32, seq uint64) session.Op { return session.Op{Kind: session.Position, Shard: k, Seq: seq} }
	var logged bool
	s.crash = func(stage string, _ int) bool {
		logged = logged || stage == "log"
		return false
	}
	for _, tc := range []struct {
		name string
		ops  []session.Op
		log  bool
	}{
		{"forwards", []session.Op{fwd("1"), fwd("2"), fwd("3")}, false},
		{"forwards and positions", []session.Op{fwd("4"), pos(0, 7), pos(3, 2)}, false},
		{"positions", []session.Op{pos(1, 5), pos(2, 9)}, false},
		{"a forward and its inbound id", []session.Op{fwd("5"), {Kind: session.PutInbound, Client: "c", PacketID: 1}}, true},
		{"a position and an acknowledged delivery", []session.Op{pos(1, 6), {Kind: session.DeleteDelivery, Client: "c", Seq: 1}}, true},
	} {
		logged = false
		if err := s.Commit(tc.ops); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if logged != tc.log {
			t.Errorf("%s: logged %v, want %v", tc.name, logged, tc.log)
		}
	}
	snap := load(t, s)
	if got := snap.Positions; len(got) < 4 || got[0] != 7 || got[1] != 6 || got[2] != 9 || got[3] != 2 {
		t.Errorf("positions %v, want [7 6 9 2 …]: unlogged position writes land as logged ones do", got)
	}
}
