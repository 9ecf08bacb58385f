package jetstream

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// A session claimed with the positions it carries keeps them in the store
// until its new owner stores it without them (its catch-up committed):
// Fetch returns them, a PutSession that carries them keeps them, and the
// new owner's Load leaves the session out meanwhile (a restart there must
// not route to it from this node's positions, which it never had). Before,
// a claimer killed between its claim and its committed catch-up left the
// session's old positions nowhere: the next owner caught up from the
// claimer's positions and lost what lay between (TestFaultKill9 seed
// 1796065786490223062, s2: 16 QoS 2 messages).
func TestAClaimKeepsThePositionsTheSessionCarries(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	if err := a.Commit(withQueue("mover", 7)); err != nil {
		t.Fatal(err)
	}
	h, err := b.Fetch(ctx, "mover")
	if err != nil {
		t.Fatal(err)
	}
	carried := []byte(`{"shards":[3,4]}`)
	if _, err := b.ClaimCarrying(ctx, "mover", h.Revision, carried); err != nil {
		t.Fatal(err)
	}
	fetched := func(what string) session.Record {
		t.Helper()
		h, err := a.Fetch(ctx, "mover")
		if err != nil || h.Node != "node-b" {
			t.Fatalf("%s: fetched owner %q (%v), want node-b", what, h.Node, err)
		}
		return h.Record
	}
	if r := fetched("after the claim"); string(r.Carried) != string(carried) || len(r.Queued) != 1 || len(r.Inflight) != 1 {
		t.Fatalf("after the claim: carried %q, %d queued, %d in flight; want %q and node-a's deliveries", r.Carried, len(r.Queued), len(r.Inflight), carried)
	}
	if snap := load(t, b); len(snap.Sessions) != 0 {
		t.Fatalf("node-b loaded %s: a session whose catch-up it never committed", dump(snap))
	}

	// The move's batch stores it under node-b's keys, still carrying them.
	rec := session.Record{Version: session.FormatVersion, ID: "mover", Expiry: 60, Carried: carried}
	if err := b.Commit([]session.Op{{Kind: session.PutSession, Record: &rec}}); err != nil {
		t.Fatal(err)
	}
	if r := fetched("after the move's batch"); string(r.Carried) != string(carried) {
		t.Fatalf("after the move's batch: carried %q, want %q", r.Carried, carried)
	}
	// Caught up: stored without them.
	rec.Carried = nil
	if err := b.Commit([]session.Op{{Kind: session.PutSession, Record: &rec}}); err != nil {
		t.Fatal(err)
	}
	if r := fetched("once caught up"); r.Carried != nil {
		t.Fatalf("once caught up: still carried %q", r.Carried)
	}
	if snap := load(t, b); len(snap.Sessions) != 1 || snap.Sessions[0].Carried != nil {
		t.Fatalf("node-b loaded %s, want its caught-up session", dump(snap))
	}
}
