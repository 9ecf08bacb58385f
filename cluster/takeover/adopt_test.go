package takeover_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/cluster/takeover"
)

// A node's sessions outlive it: a survivor adopts them (claimed, installed
// offline), messages published meanwhile are queued for them, and a
// client that comes back to the survivor resumes with them.
func TestSurvivorAdoptsTheSessionsOfADeadNode(t *testing.T) {
	srv := runJetStream(t)
	a := startNode(t, srv, "adopt", "node-a", true)
	dead := startNode(t, srv, "adopt", "node-c", true)
	s := dial(t, dead, "orphan", dialOpts{expiry: 300})
	s.subscribe(t, "o/#", 1)
	s.leave(t)
	// node-c dies: its broker stops; what it stored stays in JetStream.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := dead.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	n, err := a.mover.AdoptNode(ctx, "node-c")
	if err != nil || n != 1 {
		t.Fatalf("AdoptNode: %d sessions (%v), want 1", n, err)
	}
	if n, err := a.mover.AdoptNode(ctx, "node-c"); err != nil || n != 0 {
		t.Fatalf("a second AdoptNode: %d sessions (%v), want 0: they are node-a's now", n, err)
	}
	pub := dial(t, a, "pub", dialOpts{clean: true})
	pub.publish(t, "o/1", "queued", 1) // to the adopted, offline session
	back := dial(t, a, "orphan", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("CONNACK after adoption: session present 0, want 1")
	}
	if m := back.expect(t); string(m.Payload) != "queued" {
		t.Fatalf("got %q, want the message queued while the client was away", m.Payload)
	}
	h, err := a.store.Fetch(ctx, "orphan")
	if err != nil || h.Node != "node-a" {
		t.Fatalf("the store names %q (%v), want node-a", h.Node, err)
	}
}

// Every survivor picks the same adopter for a dead node, whatever the
// order it lists the nodes in, and the picks spread over the survivors.
func TestAdopterIsTheSameEverywhere(t *testing.T) {
	up := []string{"n1", "n2", "n3", "n4"}
	rev := []string{"n4", "n3", "n2", "n1"}
	picked := map[string]int{}
	for i := range 64 {
		dead := "dead" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		p, q := takeover.Adopter(dead, up), takeover.Adopter(dead, rev)
		if p != q || p == "" {
			t.Fatalf("adopter of %s: %q and %q", dead, p, q)
		}
		picked[p]++
	}
	if len(picked) < 3 {
		t.Fatalf("64 dead nodes adopted by %v: the choice does not spread", picked)
	}
}

// A Clean Start on another node ends the session of a dead node, and the
// will that session was waiting to publish goes now, as a Clean Start on
// the session's own node would send it.
func TestCleanStartPublishesTheWillOfADeadNodesSession(t *testing.T) {
	srv := runJetStream(t)
	a := startNode(t, srv, "will", "node-a", true)
	dead := startNode(t, srv, "will", "node-c", true)
	watcher := dial(t, a, "watcher", dialOpts{clean: true})
	watcher.subscribe(t, "will/#", 1)
	s := dial(t, dead, "w", dialOpts{expiry: 300, willTopic: "will/w", willDelay: 3600})
	if err := s.Disconnect(&paho.Disconnect{ReasonCode: 0x04}); err != nil { // disconnect with will: it waits for its delay
		t.Fatal(err)
	}
	<-s.Done()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := dead.mover.Close(); err != nil { // it answers no more
		t.Fatal(err)
	}
	if err := dead.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	fresh := dial(t, a, "w", dialOpts{clean: true, expiry: 300})
	if fresh.ack.SessionPresent {
		t.Fatal("Clean Start: session present 1, want 0")
	}
	if m := watcher.expect(t); m.Topic != "will/w" {
		t.Fatalf("got %q on %s, want the will on will/w", m.Payload, m.Topic)
	}
	if h, err := a.store.Fetch(ctx, "w"); err != nil || len(h.Record.Subscriptions) != 0 || h.Record.Will != nil {
		t.Fatalf("after Clean Start the store holds %+v (%v), want node-a's new empty session", h.Record, err)
	}
}

// node-a holds a stale copy of x (node-b took x while node-a did not
// answer), and node-b dies with a message queued for x before node-a's
// sweep ran. node-a adopts node-b's sessions: it claims x's state as
// node-b left it, and must install that, not keep its own older copy and
// resume it under the claim — the message queued on node-b was lost so.
func TestAnAdopterTakesTheStateItClaimedOverItsStaleCopy(t *testing.T) {
	a, b, moved := takenWhileSilent(t, "adoptstale")
	moved.leave(t)
	pub := dial(t, b, "pub", dialOpts{clean: true})
	pub.publish(t, "t/1", "queued on node-b", 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	a.mover.Serve(a.b) // the sweep has not run
	if n, err := a.mover.AdoptNode(ctx, "node-b"); err != nil || n != 1 {
		t.Fatalf("AdoptNode: %d sessions (%v), want x", n, err)
	}
	back := dial(t, a, "x", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("CONNACK after adoption: session present 0, want 1")
	}
	if m := back.expect(t); string(m.Payload) != "queued on node-b" {
		t.Fatalf("got %q, want the message node-b queued", m.Payload)
	}
}
