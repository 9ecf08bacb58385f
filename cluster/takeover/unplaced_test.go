package takeover_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/session"
)

// A session node-b claimed but could not install (its catch-up failed
// before the install: JetStream did not answer) still has node-a's state,
// and node-a's positions. When the client then goes back to node-a, node-a
// asks node-b, the owner in the store, to let go: node-b answers with the
// positions the session carries — node-a's — not with nothing, which made
// node-a catch up from node-b's committed positions, skipping node-b's
// messages the session never had and giving it again node-a's own that it
// had (TestFaultKill9 seed 1796056886957813969: QoS 2 messages twice, new
// packet ids).
func TestASessionClaimedButNeverInstalledKeepsItsOldOwnersPositions(t *testing.T) {
	srv := runJetStream(t)
	aPos := takeover.Positions{Shards: session.Positions{42, 0, 0, 7}, Node: "node-a", Own: 9}
	bCommitted := takeover.Positions{Shards: session.Positions{5, 0, 0, 5}, Node: "node-b", Own: ^uint64(0)}
	la := &fakeLog{pos: aPos, from: make(chan takeover.Positions, 2), of: map[string]takeover.Positions{"node-b": bCommitted}}
	lb := &fakeLog{pos: bCommitted, from: make(chan takeover.Positions, 2), fail: make(chan error, 1)}
	a := startNodeWith(t, srv, "up", "node-a", true, la)
	b := startNodeWith(t, srv, "up", "node-b", true, lb)
	s := dial(t, a, "up", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)

	lb.fail <- errors.New("fabric: catch-up on tk_IN4: nats: no responders available for request")
	if ack, err := connectOnce(t, b, "up"); err == nil {
		t.Fatalf("node-b took the session although its catch-up failed: %+v", ack)
	}
	if from := <-lb.from; !slices.Equal(from.Shards, aPos.Shards) {
		t.Fatalf("node-b's catch-up from %v, want node-a's positions %v", from, aPos)
	}

	back := dial(t, a, "up", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("session not present back on node-a")
	}
	select {
	case from := <-la.from:
		if !slices.Equal(from.Shards, aPos.Shards) || from.Node != aPos.Node || from.Own != aPos.Own {
			t.Fatalf("node-a caught up from %+v; want the positions the session carries, node-a's %+v (not node-b's committed %+v)", from, aPos, bCommitted)
		}
	case <-time.After(wait):
		t.Fatal("no catch-up on node-a")
	}
	back.routes(t, back, "t/x")
}

// The client retries on the node that claimed its session and failed to
// install it: that node is the owner in the store, asks no one, and catches
// up from the positions the session carries, not from its own committed
// ones.
func TestARetryOnTheNodeThatClaimedCatchesUpFromTheOldOwnersPositions(t *testing.T) {
	srv := runJetStream(t)
	aPos := takeover.Positions{Shards: session.Positions{42}, Node: "node-a", Own: 9}
	bCommitted := takeover.Positions{Shards: session.Positions{5}, Node: "node-b", Own: ^uint64(0)}
	la := &fakeLog{pos: aPos, from: make(chan takeover.Positions, 2)}
	lb := &fakeLog{pos: bCommitted, from: make(chan takeover.Positions, 2), fail: make(chan error, 1)}
	a := startNodeWith(t, srv, "ur", "node-a", true, la)
	b := startNodeWith(t, srv, "ur", "node-b", true, lb)
	s := dial(t, a, "ur", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)

	lb.fail <- errors.New("fabric: catch-up: this node has not routed up to [42]: context deadline exceeded")
	if ack, err := connectOnce(t, b, "ur"); err == nil {
		t.Fatalf("node-b took the session although its catch-up failed: %+v", ack)
	}
	<-lb.from
	again := dial(t, b, "ur", dialOpts{expiry: 300})
	if !again.ack.SessionPresent {
		t.Fatal("session not present on node-b's retry")
	}
	if from := <-lb.from; !slices.Equal(from.Shards, aPos.Shards) || from.Node != aPos.Node {
		t.Fatalf("retry caught up from %+v, want node-a's %+v", from, aPos)
	}
}

// connectOnce makes one MQTT 5 connection of a persistent session and
// returns the CONNACK, or the error of a refused one.
func connectOnce(t *testing.T, p *plume, id string) (*paho.Connack, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	expiry := uint32(300)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 60, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		_ = conn.Close()
		return ack, err
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return ack, nil
}

// An adopted session is unplaced until installed, as a session a CONNECT
// claims: node-b adopts node-a's session (node-a dead), its catch-up fails
// before the install, and the client then connects to node-c. node-c asks
// node-b, the owner in the store, which answers with the positions the
// session carries — node-a's last committed ones — and node-c catches up
// from those. Before, node-b answered it had nothing, and node-c caught up
// from node-b's committed positions with all of node-b's messages skipped:
// what node-b's consumers routed between node-a's positions and its own
// never reached the session.
func TestAnAdoptedSessionNeverInstalledKeepsTheDeadNodesPositions(t *testing.T) {
	srv := runJetStream(t)
	aCommitted := takeover.Positions{Shards: session.Positions{3, 0, 0, 4}, Node: "node-a", Own: ^uint64(0)}
	bCommitted := takeover.Positions{Shards: session.Positions{30, 0, 0, 40}, Node: "node-b", Own: ^uint64(0)}
	la := &fakeLog{from: make(chan takeover.Positions, 2)}
	lb := &fakeLog{pos: bCommitted, from: make(chan takeover.Positions, 2), fail: make(chan error, 1),
		of: map[string]takeover.Positions{"node-a": aCommitted}}
	lc := &fakeLog{from: make(chan takeover.Positions, 2), of: map[string]takeover.Positions{"node-a": aCommitted, "node-b": bCommitted}}
	a := startNodeWith(t, srv, "ad", "node-a", true, la)
	b := startNodeWith(t, srv, "ad", "node-b", true, lb)
	c := startNodeWith(t, srv, "ad", "node-c", true, lc)
	s := dial(t, a, "orphan", dialOpts{expiry: 300})
	s.subscribe(t, "o/#", 1)
	s.leave(t)
	ctx := tctx(t)
	if err := a.b.Shutdown(ctx); err != nil { // node-a dies; its sessions stay in JetStream
		t.Fatal(err)
	}

	lb.fail <- errors.New("fabric: catch-up on ad_IN0: nats: no responders available for request")
	if n, err := b.mover.AdoptNode(ctx, "node-a"); err == nil || n != 0 {
		t.Fatalf("AdoptNode: %d sessions (%v), want none adopted and the catch-up's error", n, err)
	}
	if from := <-lb.from; !slices.Equal(from.Shards, aCommitted.Shards) {
		t.Fatalf("node-b's catch-up from %v, want node-a's committed positions %v", from, aCommitted)
	}

	moved := dial(t, c, "orphan", dialOpts{expiry: 300})
	if !moved.ack.SessionPresent {
		t.Fatal("session not present on node-c")
	}
	select {
	case from := <-lc.from:
		if !slices.Equal(from.Shards, aCommitted.Shards) || from.Node != "node-a" {
			t.Fatalf("node-c caught up from %+v; want the positions the session carries, node-a's %+v (not node-b's %+v)", from, aCommitted, bCommitted)
		}
	case <-time.After(wait):
		t.Fatal("no catch-up on node-c")
	}
}

// node-b claims node-a's session and dies before its catch-up is
// committed: the positions the session carries are in the store with the
// claim (Record.Carried), and node-c, taking it from the store, catches up
// from them — node-a's — and not from node-b's committed positions, which
// the session never had. Before, they lived in node-b's memory only, and
// died with it (TestFaultKill9 seed 1796065786490223062: s2 lost 16 QoS 2
// messages when n1 was killed a second after adopting it).
func TestASessionWhoseClaimerDiedCatchesUpFromThePositionsItCarries(t *testing.T) {
	srv := runJetStream(t)
	aPos := takeover.Positions{Shards: session.Positions{42, 0, 0, 7}, Node: "node-a", Own: 9}
	bCommitted := takeover.Positions{Shards: session.Positions{50, 0, 0, 50}, Node: "node-b", Own: ^uint64(0)}
	la := &fakeLog{pos: aPos, from: make(chan takeover.Positions, 2)}
	lb := &fakeLog{pos: bCommitted, from: make(chan takeover.Positions, 2), fail: make(chan error, 1)}
	lc := &fakeLog{from: make(chan takeover.Positions, 2), of: map[string]takeover.Positions{"node-a": aPos, "node-b": bCommitted}}
	a := startNodeWith(t, srv, "cd", "node-a", true, la)
	b := startNodeWith(t, srv, "cd", "node-b", true, lb)
	c := startNodeWith(t, srv, "cd", "node-c", true, lc)
	s := dial(t, a, "carried", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)

	lb.fail <- errors.New("fabric: catch-up on cd_IN0: nats: no responders available for request")
	if ack, err := connectOnce(t, b, "carried"); err == nil {
		t.Fatalf("node-b took the session although its catch-up failed: %+v", ack)
	}
	<-lb.from
	ctx := tctx(t)
	if err := b.mover.Close(); err != nil { // node-b dies: what it kept in memory is gone
		t.Fatal(err)
	}
	if err := b.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	moved := dial(t, c, "carried", dialOpts{expiry: 300})
	if !moved.ack.SessionPresent {
		t.Fatal("session not present on node-c")
	}
	select {
	case from := <-lc.from:
		if !slices.Equal(from.Shards, aPos.Shards) || from.Node != aPos.Node || from.Own != aPos.Own {
			t.Fatalf("node-c caught up from %+v; want the positions the session carries, node-a's %+v (not node-b's committed %+v)", from, aPos, bCommitted)
		}
	case <-time.After(wait):
		t.Fatal("no catch-up on node-c")
	}
	deadline := time.Now().Add(wait)
	for {
		h, err := c.store.Fetch(ctx, "carried")
		if err == nil && h.Node == "node-c" && h.Record.Carried == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store after node-c's catch-up: owner %q, carried %q (%v); want node-c and nothing carried", h.Node, h.Record.Carried, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// node-a lets its session go to node-b, and node-b then refuses the move
// before its claim (its consumers behind): the session stays in the store
// under node-a, which routes no more to it. Its last state carries node-a's
// cut, so the client coming back to node-a is caught up from the cut, not
// from where node-a's routing went on since — nor, after a restart, from
// node-a's committed positions. Before, it was (TestFaultKill9 seed
// 1796066200031605877: s3 lost 28 messages when n1 let it go to n3, n3
// refused, and n1 was killed and restarted).
func TestALetGoWhoseTakerRefusedKeepsTheCut(t *testing.T) {
	srv := runJetStream(t)
	cut := takeover.Positions{Shards: session.Positions{42, 0, 0, 7}, Node: "node-a", Own: 9}
	later := takeover.Positions{Shards: session.Positions{60, 0, 0, 60}, Node: "node-a", Own: ^uint64(0)}
	la := &fakeLog{pos: cut, from: make(chan takeover.Positions, 2), of: map[string]takeover.Positions{"node-a": later}}
	lb := &fakeLog{from: make(chan takeover.Positions, 2), await: func(context.Context) error {
		return errors.New("fabric: catch-up: this node has not routed up to the ingest's end: context deadline exceeded")
	}}
	a := startNodeWith(t, srv, "lg", "node-a", true, la)
	b := startNodeWith(t, srv, "lg", "node-b", true, lb)
	leaveSubscribed(t, a, "letgo", 300, "t/#", 1)

	if ack, err := connectOnce(t, b, "letgo"); err == nil {
		t.Fatalf("node-b took the session although it could not catch it up: %+v", ack)
	}
	la.pos = later // node-a routes on without the session
	back := dial(t, a, "letgo", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("session not present back on node-a")
	}
	select {
	case from := <-la.from:
		if !slices.Equal(from.Shards, cut.Shards) || from.Own != cut.Own {
			t.Fatalf("node-a caught up from %+v; want its cut at the let-go %+v", from, cut)
		}
	case <-time.After(wait):
		t.Fatal("no catch-up on node-a")
	}
}
