package jetstream

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plumemq/plume/core/session"
)

// Two nodes share one store: each loads its own sessions, either fetches
// any session, and a claim with a stale revision fails.

func twoNodes(t *testing.T) (a, b *Store) { return twoNodesOn(t, runServer(t)) }

func twoNodesOn(t *testing.T, srv *server.Server) (a, b *Store) {
	nc := connect(t, srv)
	cfg := freshConfig("node-a")
	a = openT(t, nc, cfg)
	cfg.Node = "node-b"
	b = openT(t, nc, cfg)
	return a, b
}

func withQueue(id string, msgID uint64) []session.Op {
	m := &session.Message{Topic: "t/" + id, Payload: []byte(id), QoS: 1, ID: msgID}
	return []session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: id, Expiry: 60}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: id, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
		{Kind: session.PutDelivery, Client: id, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 2, PacketID: 5}},
		{Kind: session.PutInbound, Client: id, PacketID: 3},
	}
}

func TestEachNodeLoadsItsOwnSessions(t *testing.T) {
	a, b := twoNodes(t)
	// The same message id on both nodes: ids are each node's own.
	if err := a.Commit(withQueue("on-a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(withQueue("on-b", 1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *Store
		want string
	}{{a, "on-a"}, {b, "on-b"}} {
		snap := load(t, c.s)
		if len(snap.Sessions) != 1 || snap.Sessions[0].ID != c.want {
			t.Fatalf("node %s loaded %s, want only %s", c.s.Node(), dump(snap), c.want)
		}
		r := snap.Sessions[0]
		if len(r.Queued) != 1 || len(r.Inflight) != 1 || string(r.Queued[0].Msg.Payload) != c.want || r.Queued[0].Msg != r.Inflight[0].Msg {
			t.Fatalf("node %s loaded %s: want one queued and one in-flight delivery of its own message %q", c.s.Node(), dump(snap), c.want)
		}
	}
}

func TestFetchReadsAnotherNodesSession(t *testing.T) {
	a, b := twoNodes(t)
	if err := a.Commit(withQueue("mover", 7)); err != nil {
		t.Fatal(err)
	}
	want := load(t, a).Sessions[0]
	got, err := b.Fetch(context.Background(), "mover")
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != "node-a" || got.Revision == 0 {
		t.Fatalf("fetched node %q revision %d, want node-a and a revision", got.Node, got.Revision)
	}
	if !reflect.DeepEqual(got.Record, want) {
		t.Fatalf("fetched %+v\nwant what node-a loads %+v", got.Record, want)
	}
	if _, err := b.Fetch(context.Background(), "nobody"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Fetch of no session: %v, want ErrNoSession", err)
	}
}

func TestClaimFencesAStaleRevision(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	seen, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	// a changes the session after b read it: b's claim must fail.
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 61}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, "c", seen.Revision); !errors.Is(err, ErrFenced) {
		t.Fatalf("claim at a stale revision: %v, want ErrFenced", err)
	}
	now, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := b.Claim(ctx, "c", now.Revision)
	if err != nil {
		t.Fatalf("claim at the current revision: %v", err)
	}
	if _, err := a.Claim(ctx, "c", now.Revision); !errors.Is(err, ErrFenced) {
		t.Fatalf("a second claim at the revision b claimed: %v, want ErrFenced", err)
	}
	// The session moved with its fields and queue.
	if got := load(t, a); len(got.Sessions) != 0 {
		t.Fatalf("node-a still loads %s after node-b claimed it", dump(got))
	}
	// node-b claimed the session and has not written it: its deliveries
	// are still node-a's, which Load does not read. Load leaves it to the
	// client's next CONNECT, whose Fetch takes it whole (writer.go).
	if moved := load(t, b); len(moved.Sessions) != 0 {
		t.Fatalf("node-b loads %s after its claim, before it wrote the session; want nothing", dump(moved))
	}
	after, err := b.Fetch(ctx, "c")
	if err != nil || after.Revision != rev || after.Node != "node-b" {
		t.Fatalf("after the claim: node %q revision %d (%v), want node-b at %d", after.Node, after.Revision, err, rev)
	}
	if r := after.Record; len(r.Queued) != 1 || len(r.Inflight) != 1 || string(r.Queued[0].Msg.Payload) != "c" ||
		r.Expiry != 61 || !reflect.DeepEqual(r.InboundQoS2, []uint16{3}) {
		t.Fatalf("after the claim, Fetch gives %+v, want c (expiry 61, inbound id 3) with its queued and in-flight deliveries of node-a's message", r)
	}
	// A claim of a client no one has.
	if _, err := a.Claim(ctx, "fresh", 0); err != nil {
		t.Fatalf("claim of a new client: %v", err)
	}
	if _, err := b.Claim(ctx, "fresh", 0); !errors.Is(err, ErrFenced) {
		t.Fatalf("a second claim of a new client: %v, want ErrFenced", err)
	}
	if _, err := a.Fetch(ctx, "fresh"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Fetch of a claimed client with no session yet: %v, want ErrNoSession", err)
	}
}

// A node reads another node's committed ingest positions (decision 0055:
// adopting a dead node's sessions starts their catch-up there).
func TestPositionsOfAnotherNode(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	if err := a.Commit([]session.Op{{Kind: session.Position, Shard: 1, Seq: 9}, {Kind: session.Position, Shard: 3, Seq: 4}}); err != nil {
		t.Fatal(err)
	}
	p, err := b.PositionsOf(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, session.Positions{0, 9, 0, 4}) {
		t.Fatalf("positions of node-a %v, want [0 9 0 4]", p)
	}
	if p, err := b.PositionsOf(ctx, "node-b"); err != nil || p != nil {
		t.Fatalf("positions of node-b, which has none: %v, %v", p, err)
	}
}
