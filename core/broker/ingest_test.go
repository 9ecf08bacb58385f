package broker_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// ingestFabric is a recordingFabric that forwards QoS ≥ 1 messages through
// the store (broker.Ingest).
type ingestFabric struct {
	recordingFabric
	n      int
	unread []*session.Message // forwarded, never read back: no ingest here
}

func (f *ingestFabric) Forwards() bool { return true }

func (f *ingestFabric) Forward(m *session.Message) (*session.Forwarded, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.unread = append(f.unread, m)
	return &session.Forwarded{Subject: "in." + m.Topic, Data: slices.Clone(m.Payload), ID: string(rune('a' + f.n))}, true
}

func (f *ingestFabric) PendingOwn() []*session.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.unread)
}

// forwardStore is a MemoryStore whose Commits that hold a Forward wait at
// gate (when set), and which records every Commit.
type forwardStore struct {
	*session.MemoryStore
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
	commits [][]session.Op
}

func newForwardStore() *forwardStore {
	return &forwardStore{MemoryStore: session.NewMemoryStore(), entered: make(chan struct{}, 64)}
}

func (s *forwardStore) Commit(ops []session.Op) error {
	s.mu.Lock()
	s.commits = append(s.commits, slices.Clone(ops))
	gate := s.gate
	s.mu.Unlock()
	if slices.ContainsFunc(ops, func(op session.Op) bool { return op.Kind == session.Forward }) {
		s.entered <- struct{}{}
		if gate != nil {
			<-gate
		}
	}
	return s.MemoryStore.Commit(ops)
}

// batchWith returns the first committed batch for which ok holds.
func (s *forwardStore) batchWith(ok func([]session.Op) bool) []session.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.commits {
		if ok(b) {
			return b
		}
	}
	return nil
}

// A clustered QoS 1 or 2 message is acknowledged only once its Forward is
// committed: with nothing kept to wait for (no subscriber), the PUBACK
// would otherwise go as soon as it was routed (the ack gate opens).
func TestIngestHoldsTheAckUntilTheForwardIsCommitted(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		st := newForwardStore()
		st.gate = make(chan struct{})
		f := &ingestFabric{}
		tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: f, Store: st})
		p, _ := connectRaw(t, tb.addr, v5Connect("pub"))
		p.publish(&packets.Publish{Topic: "t", QoS: qos, PacketID: 1, Payload: []byte("m")})
		select {
		case <-st.entered:
		case <-time.After(wait):
			t.Fatalf("QoS %d: no Commit with the Forward", qos)
		}
		p.expectNothing(200 * time.Millisecond) // the Commit is held: so is the answer
		close(st.gate)
		ack := packets.TypePuback
		if qos == 2 {
			ack = packets.TypePubrec
		}
		p.expectAck(ack, 1)
		fwd := st.batchWith(func(b []session.Op) bool {
			return slices.ContainsFunc(b, func(op session.Op) bool { return op.Kind == session.Forward })
		})
		if i := slices.IndexFunc(fwd, func(op session.Op) bool { return op.Kind == session.Forward }); fwd[i].Forward.Subject != "in.t" {
			t.Fatalf("QoS %d: forwarded %+v", qos, fwd[i].Forward)
		}
	}
}

// QoS 0 never goes through the ingest; neither does anything on a broker
// whose fabric does not forward (round 1's core NATS path).
func TestIngestSkipsQoS0(t *testing.T) {
	st := newForwardStore()
	f := &ingestFabric{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: f, Store: st})
	p, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	p.publish(&packets.Publish{Topic: "zero", Payload: []byte("m")})
	p.publish(&packets.Publish{Topic: "one", QoS: 1, PacketID: 1, Payload: []byte("m")})
	p.expectAck(packets.TypePuback, 1)
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d messages forwarded, want 1 (the QoS 1 one)", n)
	}
	if got, _ := f.snapshot(); len(got) != 2 {
		t.Fatalf("%d messages published on the fabric, want both (QoS 0 and shared groups go there)", len(got))
	}
}

// RouteIngested commits the node's position with the deliveries its
// routing made, in one batch; a redelivered message goes to a QoS 1
// subscriber with DUP set, to QoS 0 without.
func TestRouteIngestedCommitsThePositionWithTheDeliveries(t *testing.T) {
	st := newForwardStore()
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: &ingestFabric{}, Store: st})
	if p := tb.Positions(); len(p) != 0 {
		t.Fatalf("positions %v on an empty store", p)
	}
	cp := persistent("s", 3600)
	cp.CleanStart = false
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("a/+", 1))

	tb.RouteIngested(3, 41, &session.Message{Topic: "a/1", QoS: 1, Payload: []byte("x"), Publisher: "elsewhere"})
	got := s.nextPublish()
	if got.Dup || got.Topic != "a/1" {
		t.Fatalf("first read: %+v, want a/1 without DUP", got)
	}
	s.ack(packets.TypePuback, got.PacketID)
	tb.RouteIngested(3, 42, &session.Message{Topic: "a/2", QoS: 1, Payload: []byte("y"), Publisher: "elsewhere", Redelivered: true})
	if got := s.nextPublish(); !got.Dup || got.Topic != "a/2" {
		t.Fatalf("re-read: %+v, want a/2 with DUP", got)
	}
	tb.RouteIngested(5, 7) // our own message: the position only

	eventually(t, "positions committed", func() bool {
		snap, err := st.Load()
		return err == nil && snap.Positions.At(3) == 42 && snap.Positions.At(5) == 7
	})
	// The second message is unacknowledged: its delivery is in the batch
	// that has its position.
	b := st.batchWith(func(b []session.Op) bool {
		return slices.ContainsFunc(b, func(op session.Op) bool { return op.Kind == session.Position && op.Seq == 42 })
	})
	if !slices.ContainsFunc(b, func(op session.Op) bool { return op.Kind == session.PutDelivery && op.Client == "s" }) {
		t.Fatalf("position 42 committed in %v, without the delivery its routing made", kindsOf(b))
	}
}

// A batch of the ingest (decision 0061) is routed in one change: the
// Commit that holds its position holds the deliveries of every message in
// it, so that a crash before that Commit leaves the position before the
// batch and the batch is read again whole — never a position past messages
// whose deliveries were lost.
func TestRouteIngestedCommitsABatchsDeliveriesWithItsPosition(t *testing.T) {
	st := newForwardStore()
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: &ingestFabric{}, Store: st})
	cp := persistent("s", 3600)
	cp.CleanStart = false
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("b/+", 2))

	var batch []*session.Message
	for i := range 5 {
		batch = append(batch, &session.Message{Topic: fmt.Sprintf("b/%d", i), QoS: 2, Payload: []byte{byte(i)}, Publisher: "elsewhere"})
	}
	if n := tb.RouteIngested(2, 90, batch...); n != 5 {
		t.Fatalf("routed to %d subscribers, want 5", n)
	}
	eventually(t, "position committed", func() bool {
		snap, err := st.Load()
		return err == nil && snap.Positions.At(2) == 90
	})
	b := st.batchWith(func(b []session.Op) bool {
		return slices.ContainsFunc(b, func(op session.Op) bool { return op.Kind == session.Position && op.Seq == 90 })
	})
	n := 0
	for _, op := range b {
		if op.Kind == session.PutDelivery && op.Client == "s" {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("position 90 committed with %d of the batch's 5 deliveries (%v)", n, kindsOf(b))
	}
}

func kindsOf(ops []session.Op) []string {
	var k []string
	for _, op := range ops {
		k = append(k, op.Kind.String())
	}
	return k
}

// A fabric that forwards through the store needs one.
func TestIngestNeedsAStore(t *testing.T) {
	if _, err := broker.New(broker.Options{Fabric: &ingestFabric{}}); err == nil {
		t.Fatal("a broker with an ingest fabric and no store started")
	}
}

// A session that moves in gets this node's own messages accepted just
// before it arrived and not yet read back from the ingest: they were routed
// here without it, they are past this node's positions (so not in the
// catch-up's range), and the consumers skip them as this node's own. The
// kill -9 fault test lost such messages (a publisher and a moving
// subscriber reconnecting to the same survivor at once).
func TestAMovedInSessionGetsOwnMessagesNotYetReadBack(t *testing.T) {
	f := &ingestFabric{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: f, Store: newForwardStore()})
	p, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	p.publish(&packets.Publish{Topic: "mv/1", QoS: 1, PacketID: 1, Payload: []byte("before")})
	p.expectAck(packets.TypePuback, 1)

	rec := &session.Record{Version: session.FormatVersion, ID: "moved", Expiry: 3600,
		Subscriptions: []session.Subscription{{Subscription: packets.Subscription{Filter: "mv/#", QoS: 1}}}}
	ok, err := tb.Adopt(rec, func(install func() []string, deliver func(*session.Message, bool)) error {
		install() // the range is empty: the message is past this node's positions
		return nil
	})
	if err != nil || !ok {
		t.Fatalf("adopt: %v, %v", ok, err)
	}
	p.publish(&packets.Publish{Topic: "mv/1", QoS: 1, PacketID: 2, Payload: []byte("after")})
	p.expectAck(packets.TypePuback, 2)

	cp := v5Connect("moved")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	s, ack := connectRaw(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session present 0 after the move")
	}
	for _, want := range []string{"before", "after"} {
		if m := s.nextPublish(); string(m.Payload) != want || m.Dup {
			t.Fatalf("got %q (DUP %v), want %q, once and in order", m.Payload, m.Dup, want)
		}
	}
}

func (f *ingestFabric) Pause() func() { return func() {} }
