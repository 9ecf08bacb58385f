package takeover_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/cluster/takeover"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// sessionTakenOver is DISCONNECT's reason 0x8E [MQTT-3.1.4-3].
const sessionTakenOver = 0x8E

func (c *client) leave(t testing.TB) {
	t.Helper()
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("client did not stop")
	}
}

func (c *client) expectTakenOver(t testing.TB) {
	t.Helper()
	select {
	case d := <-c.gone:
		if d.ReasonCode != sessionTakenOver {
			t.Fatalf("DISCONNECT reason 0x%02X, want 0x8E Session taken over", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("the old connection got no DISCONNECT")
	}
}

// A persistent subscriber on node-a reconnects to node-b while node-a
// lives: node-a's connection is told 0x8E, node-b resumes the session
// (session present), the message in flight and those queued on node-a are
// delivered in order, and the subscription routes on node-b.
func TestSessionMovesToAnotherLiveNode(t *testing.T) {
	nodes := startNodes(t, runJetStream(t), true, "node-a", "node-b")
	a, b := nodes[0], nodes[1]
	old := dial(t, a, "mover", dialOpts{expiry: 300, receiveMax: 1, manualAck: true})
	old.subscribe(t, "t/#", 2)
	pub := dial(t, a, "pub", dialOpts{clean: true})
	pub.publish(t, "t/1", "m1", 1)
	pub.publish(t, "t/2", "m2", 1)
	pub.publish(t, "t/3", "m3", 2)
	if m := old.expect(t); string(m.Payload) != "m1" {
		t.Fatalf("got %q first, want m1", m.Payload)
	} // never acknowledged: m1 stays in flight, m2 and m3 queued behind it

	moved := dial(t, b, "mover", dialOpts{expiry: 300})
	old.expectTakenOver(t)
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on node-b: session present 0, want 1 [MQTT-3.2.2-2]")
	}
	for i, want := range []string{"m1", "m2", "m3"} {
		m := moved.expect(t)
		if string(m.Payload) != want {
			t.Fatalf("message %d on node-b: %q, want %q", i, m.Payload, want)
		}
		if want == "m3" && m.QoS != 2 {
			t.Fatalf("m3 arrived at QoS %d, want 2", m.QoS)
		}
	}
	// The subscription moved: a message published on node-a reaches the
	// client on node-b, once node-b's interest has reached NATS (decision
	// 0052: until then a QoS 0/1 message crosses at most once).
	moved.routes(t, pub, "t/4")
	h, err := b.store.Fetch(tctx(t), "mover")
	if err != nil || h.Node != "node-b" {
		t.Fatalf("the store's owner is %q (%v), want node-b", h.Node, err)
	}
}

// node-a does not answer (cut off from the other nodes, not from
// JetStream): node-b takes the session from the store, and node-a's late
// writes of it — here its expiry, which would delete the record and purge
// the queue — are fenced: node-b's session stays whole and node-a is told.
func TestAnOwnerThatDoesNotAnswerIsFenced(t *testing.T) {
	srv := runJetStream(t)
	a := startNode(t, srv, "fence", "node-a", false)
	b := startNode(t, srv, "fence", "node-b", true)
	s := dial(t, a, "x", dialOpts{expiry: 2})
	s.subscribe(t, "t/#", 1)
	s.leave(t) // node-a ends the session 2 s from now

	moved := dial(t, b, "x", dialOpts{expiry: 300})
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on node-b: session present 0, want 1")
	}
	select {
	case c := <-a.lost:
		if c != "x" {
			t.Fatalf("node-a lost %q, want x", c)
		}
	case <-time.After(wait):
		t.Fatal("node-a's expiry of the session it no longer owns was not fenced")
	}
	h, err := b.store.Fetch(tctx(t), "x")
	if err != nil {
		t.Fatalf("node-b's session after node-a's expiry: %v", err)
	}
	if h.Node != "node-b" || h.Record.Expiry != 300 || len(h.Record.Subscriptions) != 1 {
		t.Fatalf("after node-a's expiry: owner %q, expiry %d, %d subscriptions; want node-b's, 300, 1", h.Node, h.Record.Expiry, len(h.Record.Subscriptions))
	}
	pub := dial(t, b, "pub", dialOpts{clean: true})
	pub.publish(t, "t/1", "after", 1)
	if m := moved.expect(t); string(m.Payload) != "after" {
		t.Fatalf("got %q, want after", m.Payload)
	}
}

// Two nodes race for one client whose session a third node has: one
// connection wins, the other is told 0x8E, and the store names the
// winner's node.
func TestTwoNodesRacingForOneClient(t *testing.T) {
	nodes := startNodes(t, runJetStream(t), true, "node-a", "node-b", "node-c")
	first := dial(t, nodes[2], "r", dialOpts{expiry: 300})
	first.subscribe(t, "t/#", 1)
	first.leave(t)

	var wg sync.WaitGroup
	conns := make([]*client, 2)
	for i := range conns {
		wg.Go(func() { conns[i] = dial(t, nodes[i], "r", dialOpts{expiry: 300}) })
	}
	wg.Wait()
	var live int
	select {
	case d := <-conns[0].gone:
		if d.ReasonCode != sessionTakenOver {
			t.Fatalf("node-a's connection: reason 0x%02X, want 0x8E", d.ReasonCode)
		}
		live = 1
	case d := <-conns[1].gone:
		if d.ReasonCode != sessionTakenOver {
			t.Fatalf("node-b's connection: reason 0x%02X, want 0x8E", d.ReasonCode)
		}
		live = 0
	case <-time.After(wait):
		t.Fatal("both connections are still up: two owners")
	}
	h, err := nodes[live].store.Fetch(tctx(t), "r")
	if err != nil || h.Node != nodes[live].name {
		t.Fatalf("the store names %q (%v), want %s, whose connection lives", h.Node, err, nodes[live].name)
	}
	if _, err := nodes[1-live].store.Fetch(tctx(t), "r"); errors.Is(err, jsstore.ErrNoSession) {
		t.Fatal("the session is gone")
	}
	pub := dial(t, nodes[2], "pub", dialOpts{clean: true})
	conns[live].routes(t, pub, "t/1") // the winner's subscription routes
}

// node-a keeps a copy of a session that node-b took from the store while
// node-a did not answer (a restart's start, a cut-off moment). When the
// client comes back to node-a, node-a does not resume its copy — an old
// queue, served until its first write is fenced — but asks the store,
// drops the copy and takes the session from node-b: the store names
// node-a and the message queued on node-b arrives once. Before, node-a
// resumed its copy without a claim (TestFaultKill9 seed
// 1796074893220585896: a restarted node sent a session's old queue).
func TestAStaleCopyOfASessionIsNotResumed(t *testing.T) {
	a, b, moved := takenWhileSilent(t, "stale")
	moved.leave(t)
	pub := dial(t, b, "pub", dialOpts{clean: true})
	pub.publish(t, "t/1", "queued on node-b", 1)

	back := dial(t, a, "x", dialOpts{expiry: 300})
	if !back.ack.SessionPresent {
		t.Fatal("CONNACK back on node-a: session present 0, want 1")
	}
	h, err := a.store.Fetch(tctx(t), "x")
	if err != nil {
		t.Fatal(err)
	}
	if h.Node != "node-a" {
		t.Fatalf("the store names %q after the client came back to node-a, want node-a: node-a resumed a copy it did not own", h.Node)
	}
	if m := back.expect(t); string(m.Payload) != "queued on node-b" {
		t.Fatalf("got %q, want the message queued on node-b", m.Payload)
	}
	pub.publish(t, "t/2", "probe", 1)
	if m := back.expect(t); string(m.Payload) != "probe" {
		t.Fatalf("got %q after the queued message, want probe (the queued message twice?)", m.Payload)
	}
}

// node-a holds a copy of a session that node-b took from the store before
// node-a answered let-go requests (a restart's window between Load and
// Start). When node-a starts answering, it drops the copy, which would
// otherwise route into its own queue and fire its will for a session
// node-b serves.
func TestACopyTakenBeforeStartIsDroppedAtStart(t *testing.T) {
	a, _, _ := takenWhileSilent(t, "sweep")
	if ids := a.b.KeptIDs(); !slices.Contains(ids, "x") {
		t.Fatalf("node-a holds %q before it starts answering, want its copy of x among them", ids)
	}
	if err := a.mover.Start(a.b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for slices.Contains(a.b.KeptIDs(), "x") {
		if time.Now().After(deadline) {
			t.Fatal("node-a still holds its copy of x, which node-b owns")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ids := a.b.KeptIDs(); !slices.Contains(ids, "kept") {
		t.Fatalf("node-a holds %q after the sweep, want its own session kept", ids)
	}
}

// takenWhileSilent has node-b take client x's session (subscribed to t/#,
// offline) from node-a, which does not answer let-go requests and so keeps
// a copy; node-a also has a session of its own, kept. moved is x on node-b.
func takenWhileSilent(t *testing.T, prefix string) (a, b *plume, moved *client) {
	t.Helper()
	srv := runJetStream(t)
	a = startNode(t, srv, prefix, "node-a", false)
	b = startNode(t, srv, prefix, "node-b", true)
	leaveSubscribed(t, a, "x", 300, "t/#", 1)
	dial(t, a, "kept", dialOpts{expiry: 300}).leave(t)
	moved = dial(t, b, "x", dialOpts{expiry: 300})
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on node-b: session present 0, want 1")
	}
	return a, b, moved
}

// An owner that let go of a session without its last state committed
// (its store slow) answers so, and the asking node refuses the CONNECT
// rather than take the session from the store: the store's copy is behind
// it, and without the cut its last state carries, a catch-up would skip
// what the owner accepted after the cut (TestFaultKill9 seed
// 1796090657374635515). The client tries again later.
func TestAnOwnerThatLetGoWithoutCommittingIsNotTakenFrom(t *testing.T) {
	srv := runJetStream(t)
	a := startNode(t, srv, "uncommitted", "node-a", false)
	b := startNode(t, srv, "uncommitted", "node-b", true)
	s := dial(t, a, "x", dialOpts{expiry: 300})
	s.subscribe(t, "t/#", 1)
	s.leave(t)
	// node-a's answer, as its mover gives it when Release fails so.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe("uncommitted.own."+subject.Token("node-a"), func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"had":true,"error":"release \"x\": the session's last state was not committed in time"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes with the test
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	if ack, err := connectOnce(t, b, "x"); err == nil {
		t.Fatalf("node-b took the session although its owner had not committed it: %+v", ack)
	}
	h, err := b.store.Fetch(tctx(t), "x")
	if err != nil {
		t.Fatal(err)
	}
	if h.Node != "node-a" {
		t.Fatalf("the store names %q, want node-a: node-b claimed a session its owner had not committed", h.Node)
	}
}

// node-a owns x and is up — membership lists it: its NATS server joined
// the cluster — but does not answer let-go requests yet: its broker is
// between loading the sessions it owns and Start, as after a restart.
// node-b's CONNECT for x asks again until node-a answers and lets x go,
// rather than take x from the store as from a dead node while node-a's
// copy routes node-a's own messages (TestFaultKill9 seed
// 1796101714686182431: s3 lost 69 that a catch-up skipped as node-a's).
func TestAnOwnerThatIsUpAndNotAnsweringYetIsAskedAgain(t *testing.T) {
	srv := runJetStream(t)
	a := startNode(t, srv, "starting", "node-a", false)
	b := startNodeOf(t, srv, "starting", "node-b", true, nil, false, func(c *takeover.Config) {
		c.Members = members{{Name: "node-b", Self: true, Up: true}, {Name: "node-a", Up: true}}
	})
	leaveSubscribed(t, a, "x", 300, "t/#", 1)
	var answering atomic.Bool
	started := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // node-a's start takes a while
		answering.Store(true)
		started <- a.mover.Start(a.b)
	}()
	moved := dial(t, b, "x", dialOpts{expiry: 300})
	if !answering.Load() {
		t.Fatal("node-b resumed x before node-a answered: it took x from the store as from a dead node")
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on node-b: session present 0, want 1")
	}
	if h, err := b.store.Fetch(tctx(t), "x"); err != nil || h.Node != "node-b" {
		t.Fatalf("the store names %q (%v), want node-b", h.Node, err)
	}
}
