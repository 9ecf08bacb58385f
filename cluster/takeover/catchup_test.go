package takeover_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/session"
)

// fakeLog plays the ingest (decision 0055) at the seam takeover uses.
type fakeLog struct {
	pos   takeover.Positions
	catch []*session.Message
	from  chan takeover.Positions
	// of, when set, are the committed positions PositionsOf returns per
	// node (else pos).
	of map[string]takeover.Positions
	// fail, when set, fails the next CatchUp before it installs anything.
	fail chan error
	// await, when set, is AwaitPositions' wait.
	await func(ctx context.Context) error
}

func (f *fakeLog) Positions() takeover.Positions { return f.pos }

func (f *fakeLog) PositionsOf(_ context.Context, node string) (takeover.Positions, error) {
	if p, ok := f.of[node]; ok {
		return p, nil
	}
	return f.pos, nil
}

func (f *fakeLog) AwaitPositions(ctx context.Context, from takeover.Positions) (takeover.Positions, error) {
	if f.await != nil {
		return from, f.await(ctx)
	}
	return from, nil
}

func (f *fakeLog) CatchUp(_ context.Context, from takeover.Positions, install func() []string, deliver func(*session.Message, bool)) error {
	f.from <- from
	select {
	case err := <-f.fail:
		return err
	default:
	}
	if filters := install(); len(filters) == 0 {
		return nil
	}
	for _, m := range f.catch {
		deliver(m, true)
	}
	return nil
}

// The positions the owner reads as it lets go reach the new owner's
// catch-up, which installs the session and delivers what it missed: a
// re-read message goes with DUP [MQTT-3.3.1-1], and one its subscriptions
// do not match is not delivered.
func TestCatchUpStartsAtTheOwnersPositions(t *testing.T) {
	srv := runJetStream(t)
	la := &fakeLog{pos: takeover.Positions{Shards: session.Positions{42, 0, 0, 7}}, from: make(chan takeover.Positions, 1)}
	lb := &fakeLog{from: make(chan takeover.Positions, 1), catch: []*session.Message{
		{Topic: "other/x", Payload: []byte("not subscribed"), QoS: 1},
		{Topic: "t/x", Payload: []byte("caught"), QoS: 1},
	}}
	a := startNodeWith(t, srv, "cu", "node-a", true, la)
	b := startNodeWith(t, srv, "cu", "node-b", true, lb)
	s := dial(t, a, "cu", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)

	moved := dial(t, b, "cu", dialOpts{expiry: 300})
	select {
	case from := <-lb.from:
		if !slices.Equal(from.Shards, la.pos.Shards) {
			t.Fatalf("catch-up from %v, want node-a's positions %v", from, la.pos)
		}
	case <-time.After(wait):
		t.Fatal("no catch-up")
	}
	m := moved.expect(t)
	if string(m.Payload) != "caught" || !m.Duplicate() {
		t.Fatalf("got %q (DUP %v), want the caught-up message with DUP", m.Payload, m.Duplicate())
	}
}

// A wait for this node's consumers that ends too close to the move's
// deadline refuses the move with nothing claimed: what follows the claim
// (the catch-up's reads) keeps a reserve of the deadline. Before, the wait
// could use all of it, and the catch-up then failed after the claim.
func TestAWaitThatLeavesNoTimeForTheCatchUpClaimsNothing(t *testing.T) {
	srv := runJetStream(t)
	la := &fakeLog{pos: takeover.Positions{Shards: session.Positions{1}, Node: "node-a", Own: 1}, from: make(chan takeover.Positions, 1)}
	deadline := time.Now().Add(8 * time.Second) // the move's
	lb := &fakeLog{from: make(chan takeover.Positions, 1), await: func(ctx context.Context) error {
		// The consumers get there 2 s before the move's deadline.
		select {
		case <-time.After(time.Until(deadline) - 2*time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	a := startNodeWith(t, srv, "rs", "node-a", true, la)
	b := startNodeWith(t, srv, "rs", "node-b", true, lb)
	s := dial(t, a, "rs", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)

	ctx, cancel := context.WithDeadline(tctx(t), deadline)
	defer cancel()
	if _, err := b.mover.Acquire(ctx, "rs", false, true); err == nil {
		t.Error("node-b took the session with 2 s left for its catch-up")
	}
	if h, err := b.store.Fetch(tctx(t), "rs"); err != nil || h.Node != "node-a" {
		t.Fatalf("the store names %q (%v); want node-a still", h.Node, err)
	}
}
