package jetstream

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// A node's starts are found in order: the latest one's sequence, then from
// it the start after it, once there is one — and another node's starts,
// and its positions in the same stream, are never taken for it.
func TestBootAfterFindsTheNextStartOfTheSameNode(t *testing.T) {
	srv := runServer(t)
	a, b := twoNodesOn(t, srv)
	ctx := context.Background()

	if seq, err := a.LastBoot(ctx, "node-a"); err != nil || seq != 0 {
		t.Fatalf("a node that never started: latest start %d, %v; want 0", seq, err)
	}
	if err := a.WriteBoot(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	first, err := b.LastBoot(ctx, "node-a")
	if err != nil || first == 0 {
		t.Fatalf("latest start of node-a: %d, %v", first, err)
	}
	if _, ok, err := b.BootAfter(ctx, "node-a", first); err != nil || ok {
		t.Fatalf("a start after the latest: ok %v, %v; want none", ok, err)
	}
	// Between them: another node's start and a position of node-a's.
	if err := b.WriteBoot(ctx, 1500); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit([]session.Op{{Kind: session.Position, Shard: 0, Seq: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteBoot(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteBoot(ctx, 3000); err != nil {
		t.Fatal(err)
	}
	next, ok, err := b.BootAfter(ctx, "node-a", first)
	if err != nil || !ok || next != 2000 {
		t.Fatalf("start of node-a after its first: %d, %v, %v; want 2000", next, ok, err)
	}
	last, err := b.LastBoot(ctx, "node-a")
	if err != nil || last <= first {
		t.Fatalf("latest start of node-a: %d, %v; want past %d", last, err, first)
	}
	if _, ok, err := b.BootAfter(ctx, "node-a", last); err != nil || ok {
		t.Fatalf("a start after the latest: ok %v, %v; want none", ok, err)
	}
}
