package takeover_test

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/cluster/takeover"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// node-a dies holding a session; node-b claims it from the store, carrying
// node-a's positions, and dies before its catch-up is committed. node-a
// restarts — a new process, which does not load the session, now
// node-b's — and accepts a message for it. When the client comes back to
// node-a, node-a catches the session up from the positions it carries,
// node-a's own of its earlier process: that process's own messages the
// session had (they were routed to it when accepted) and are skipped, but
// the new process's message was routed to nobody and is delivered.
// Before, every message of node-a's was skipped as the session's own
// (TestFaultKill9 seed 1796086050182382691: s2 never got 61 messages).
func TestACatchUpSkipsOnlyTheOwnMessagesOfTheProcessesThatHeldTheSession(t *testing.T) {
	srv := runJetStream(t)
	prefix := "rs"
	a1 := startNodeOf(t, srv, prefix, "node-a", true, nil, true)
	c := startNodeOf(t, srv, prefix, "node-c", true, nil, true)
	s := dial(t, a1, "s", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)
	pub := dial(t, a1, "pub", dialOpts{clean: true})
	pub.publish(t, "t/1", "before", 1) // routed to the session as accepted
	a1.stop()                          // node-a dies

	// node-b's claim, and its death before its catch-up: only the claim,
	// carrying node-a's positions, is left in the store.
	ctx := tctx(t)
	nc, err := nats.Connect(srv.ClientURL(), nats.Name("node-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, err := jsstore.Open(ctx, nc, jsstore.Config{Prefix: prefix, Node: "node-b", Shards: 4}, failureLog(t, "node-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close() //nolint:errcheck // closes with the test
	h, err := b.Fetch(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	from, err := takeover.FabricLog{Fabric: c.fab, Committed: c.store.PositionsOf, Boots: c.store}.PositionsOf(ctx, "node-a")
	if err != nil || from.Boot == 0 {
		t.Fatalf("node-a's positions %+v (%v): want its latest start noted", from, err)
	}
	carried, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimCarrying(ctx, "s", h.Revision, carried); err != nil {
		t.Fatal(err)
	}

	a2 := startNodeOf(t, srv, prefix, "node-a", true, nil, true)
	if ids := a2.b.KeptIDs(); len(ids) != 0 {
		t.Fatalf("node-a's new process holds %q: the session is node-b's", ids)
	}
	pub2 := dial(t, a2, "pub", dialOpts{clean: true})
	pub2.publish(t, "t/2", "after", 1) // routed to nobody here

	back := dial(t, a2, "s", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("CONNACK on node-a's new process: session present 0, want 1")
	}
	for _, want := range []string{"before", "after"} {
		if m := back.expect(t); string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		}
	}
	pub2.publish(t, "t/3", "probe", 1)
	if m := back.expect(t); string(m.Payload) != "probe" {
		t.Fatalf("got %q after both, want probe (one of them twice?)", m.Payload)
	}
}
