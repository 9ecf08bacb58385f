package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// gateStore is a MemoryStore whose commits can be held back (closed gate)
// or made to fail, as a disk that is slow or broken.
type gateStore struct {
	*session.MemoryStore
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	fail    error
	entered chan struct{} // a commit arrived at the closed gate
	ended   <-chan struct{}
}

func newGateStore(t *testing.T) *gateStore {
	// A test that fails with the gate closed must not leave the broker's
	// Shutdown waiting on it: the gate opens as the test ends.
	return &gateStore{MemoryStore: session.NewMemoryStore(), entered: make(chan struct{}, 1), ended: t.Context().Done()}
}

func (s *gateStore) Commit(ops []session.Op) error {
	s.mu.Lock()
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	if gate != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-s.ended:
		}
	}
	if fail != nil {
		return fail
	}
	return s.MemoryStore.Commit(ops)
}

func (s *gateStore) close() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *gateStore) open() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

func (s *gateStore) failWith(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// keptSubscriber leaves behind an offline session subscribed to filter at
// QoS qos, which the store keeps (session expiry one hour).
func keptSubscriber(t *testing.T, addr, id, filter string, qos byte) {
	t.Helper()
	cp := v5Connect(id)
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	c, _ := connectRaw(t, addr, cp)
	c.subscribe(1, sub(filter, qos))
	c.disconnect(packets.Success)
	c.expectClosed()
}

func queuedFor(t *testing.T, store session.Store, id string) []session.Delivery {
	t.Helper()
	snap, err := store.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, r := range snap.Sessions {
		if r.ID == id {
			return append(r.Inflight, r.Queued...)
		}
	}
	t.Fatalf("the store holds no session %q", id)
	return nil
}

// The promise of a durable store: the publisher sees PUBACK (PUBREC) only
// once the message and the queue entries it made are committed.
func TestAcknowledgementWaitsForTheCommit(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		store := newGateStore(t)
		tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
		keptSubscriber(t, tb.addr, "offline", "t", 2)

		// The publisher's session is kept too: its inbound QoS 2 ids are.
		cp := v5Connect("pub")
		cp.Properties.SessionExpiry = 3600
		cp.Properties.Set(packets.PropSessionExpiry)
		pub, _ := connectRaw(t, tb.addr, cp)
		store.close()
		pub.publish(&packets.Publish{Topic: "t", Payload: []byte("kept"), QoS: qos, PacketID: 7})
		<-store.entered // the message's batch is being committed
		pub.expectNothing(200 * time.Millisecond)
		store.open()
		want := packets.TypePuback
		if qos == 2 {
			want = packets.TypePubrec
		}
		pub.expectAck(want, 7)
		ds := queuedFor(t, store, "offline")
		if len(ds) != 1 || string(ds[0].Msg.Payload) != "kept" {
			t.Fatalf("QoS %d: acknowledged, and the store holds %+v for the offline session", qos, ds)
		}
		if qos == 2 {
			snap, _ := store.Load()
			if !hasInbound(snap, "pub", 7) {
				t.Fatal("PUBREC sent before the inbound packet id was stored")
			}
			store.close()
			pub.ack(packets.TypePubrel, 7)
			<-store.entered
			pub.expectNothing(200 * time.Millisecond) // PUBCOMP waits for the id to be forgotten
			store.open()
			pub.expectAck(packets.TypePubcomp, 7)
		}
	}
}

func hasInbound(snap session.Snapshot, id string, pid uint16) bool {
	for _, r := range snap.Sessions {
		if r.ID == id && slices.Contains(r.InboundQoS2, pid) {
			return true
		}
	}
	return false
}

// A publish that reaches no kept session changes nothing in the store, and
// its PUBACK waits for nothing.
func TestAcknowledgementOfUnkeptMessageDoesNotWait(t *testing.T) {
	store := newGateStore(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	subscriber, _ := connectRaw(t, tb.addr, v5Connect("clean")) // expiry 0: not kept
	subscriber.subscribe(1, sub("t", 1))
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	store.close()
	defer store.open()
	pub.publish(&packets.Publish{Topic: "t", Payload: []byte("x"), QoS: 1, PacketID: 3})
	pub.expectAck(packets.TypePuback, 3)
}

// A commit the store rejects withholds the acknowledgements waiting for it
// and closes their connections: the client resends, and the message is not
// acknowledged as kept when it is not.
func TestRejectedCommitWithholdsTheAcknowledgement(t *testing.T) {
	store := newGateStore(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	keptSubscriber(t, tb.addr, "offline", "t", 1)
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	store.failWith(fmt.Errorf("disk on fire: %w", session.ErrRejected))
	pub.publish(&packets.Publish{Topic: "t", Payload: []byte("lost"), QoS: 1, PacketID: 9})
	d := pub.expectDisconnect(packets.UnspecifiedError)
	if d == nil {
		t.Fatal("no DISCONNECT")
	}
	pub.expectClosed()

	store.failWith(nil)
	again, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	again.publish(&packets.Publish{Topic: "t", Payload: []byte("kept"), QoS: 1, PacketID: 9, Dup: true})
	again.expectAck(packets.TypePuback, 9)
}

// What was committed survives a crash: a second broker on the same store,
// the first never shut down, restores the offline session with its queued
// messages and the retained message.
func TestCommittedStateSurvivesACrash(t *testing.T) {
	store := session.NewMemoryStore()
	first := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	keptSubscriber(t, first.addr, "offline", "t/#", 1)
	pub, _ := connectRaw(t, first.addr, v5Connect("pub"))
	for i, p := range []string{"1", "2", "3"} {
		pub.publish(&packets.Publish{Topic: "t/a", Payload: []byte(p), QoS: 1, PacketID: uint16(i + 1)})
		pub.expectAck(packets.TypePuback, uint16(i+1))
	}
	pub.publish(&packets.Publish{Topic: "t/r", Payload: []byte("retained"), QoS: 1, PacketID: 4, Retain: true})
	pub.expectAck(packets.TypePuback, 4)

	second := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	cp := v5Connect("offline")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	c, ack := connectRaw(t, second.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session_present=0 after the restart")
	}
	var got []string
	for range 4 {
		p := c.nextPublish()
		got = append(got, string(p.Payload))
		c.ack(packets.TypePuback, p.PacketID)
	}
	if want := "1 2 3 retained"; strings.Join(got, " ") != want {
		t.Fatalf("after the restart the session got %q, want %q", strings.Join(got, " "), want)
	}
	late, _ := connectRaw(t, second.addr, v5Connect("late"))
	late.subscribe(1, sub("t/r", 0))
	if p := late.nextPublish(); string(p.Payload) != "retained" || !p.Retain {
		t.Fatalf("retained message after the restart: %+v", p)
	}
}

// $SYS topics are the broker's live counters, republished every interval:
// they are not written to the store.
func TestSysTopicsAreNotStored(t *testing.T) {
	store := session.NewMemoryStore()
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store, SysInterval: 10 * time.Millisecond})
	c, _ := connectRaw(t, tb.addr, v5Connect("watcher"))
	c.subscribe(1, sub("$SYS/broker/uptime", 0))
	c.nextPublish()                            // published, so routed through retain
	keptSubscriber(t, tb.addr, "kept", "x", 1) // a commit after it
	snap, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Retained) != 0 {
		t.Fatalf("the store holds %d retained messages (first %q), want none", len(snap.Retained), snap.Retained[0].Topic)
	}
}

// A publisher that goes away while its PUBACK waits for a commit that then
// fails: the held answer belongs to a closed connection, and the broker
// goes on.
func TestHeldAnswerOfAClosedConnection(t *testing.T) {
	for _, fail := range []bool{false, true} {
		store := newGateStore(t)
		tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
		keptSubscriber(t, tb.addr, "offline", "t", 1)
		pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
		store.close()
		pub.publish(&packets.Publish{Topic: "t", Payload: []byte("x"), QoS: 1, PacketID: 1})
		<-store.entered
		_ = pub.conn.Close()
		eventually(t, "the publisher's connection to end", func() bool { return tb.ClientCount() == 0 })
		if fail {
			store.failWith(fmt.Errorf("disk gone: %w", session.ErrRejected))
		}
		store.open()
		store.failWith(nil)
		again, _ := connectRaw(t, tb.addr, v5Connect("pub"))
		again.publish(&packets.Publish{Topic: "t", Payload: []byte("y"), QoS: 1, PacketID: 2})
		again.expectAck(packets.TypePuback, 2)
	}
}

// windowedGate is a gateStore that promises a loss window instead of
// durability on return (store/disk in async mode).
type windowedGate struct{ *gateStore }

func (windowedGate) Window() time.Duration { return 100 * time.Millisecond }

// With a windowed store the publisher's PUBACK does not wait for the
// commit: the store promised a window, not durability on return.
func TestWindowedStoreDoesNotHoldAnswers(t *testing.T) {
	store := windowedGate{newGateStore(t)}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	keptSubscriber(t, tb.addr, "offline", "t", 1)
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	store.close()
	defer store.open()
	pub.publish(&packets.Publish{Topic: "t", Payload: []byte("x"), QoS: 1, PacketID: 5})
	pub.expectAck(packets.TypePuback, 5)
}

// slowAuthz holds the authorization of topic "slow" until released.
type slowAuthz struct {
	hooks.Base
	entered, release chan struct{}
}

func (a *slowAuthz) Provides(p hooks.Point) bool { return p == hooks.PointAuthorize }

func (a *slowAuthz) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	if r.Topic == "slow" {
		close(a.entered)
		<-a.release
	}
	return hooks.AuthzResult{Verdict: hooks.Allow}, nil
}

// A publish whose plugin call takes its time holds up its own answer, not
// every other publisher's commit: the hooks run outside the journal's
// one-batch section (accept).
func TestSlowHookDoesNotHoldOtherCommits(t *testing.T) {
	authz := &slowAuthz{entered: make(chan struct{}), release: make(chan struct{})}
	chain := hooks.NewChain(zerolog.Nop(), hooks.Link{Name: "slow", Hooks: authz})
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Hooks: chain})
	keptSubscriber(t, tb.addr, "offline", "#", 1)
	slow, _ := connectRaw(t, tb.addr, v5Connect("slow-pub"))
	fast, _ := connectRaw(t, tb.addr, v5Connect("fast-pub"))
	slow.publish(&packets.Publish{Topic: "slow", Payload: []byte("s"), QoS: 1, PacketID: 1})
	<-authz.entered
	defer close(authz.release)
	for id := uint16(1); id <= 3; id++ { // the first wakes the committer, the next need its commit done
		fast.publish(&packets.Publish{Topic: "fast", Payload: []byte("f"), QoS: 1, PacketID: id})
		fast.expectAck(packets.TypePuback, id)
	}
}

// A store whose commit never returns (a hung disk) does not hang Shutdown
// past its deadline.
func TestShutdownDoesNotWaitForAHungStore(t *testing.T) {
	store := newGateStore(t)
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store})
	keptSubscriber(t, tb.addr, "offline", "t", 1)
	store.close()
	defer store.open()
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	pub.publish(&packets.Publish{Topic: "t", Payload: []byte("x"), QoS: 1, PacketID: 1})
	<-store.entered
	// Long enough for the publisher's connection to end (it waits up to a
	// second for its held PUBACK), short of the hung commit.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tb.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Shutdown reported success with a commit still hanging")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hung with the store")
	}
}

// keptOnline connects a subscriber whose session the store keeps and leaves
// it connected.
func keptOnline(t *testing.T, addr, id, filter string) *rawClient {
	t.Helper()
	cp := v5Connect(id)
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	c, _ := connectRaw(t, addr, cp)
	c.subscribe(1, sub(filter, 1))
	return c
}

// A QoS 1 message that every kept session acknowledged is delivered: its
// PUBACK goes without waiting for the store, which may never have to write
// it. One kept session that has not acknowledged it (offline) makes the
// PUBACK wait for the store again.
func TestPubackGoesOnceTheSubscribersHaveTheMessage(t *testing.T) {
	store := newGateStore(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	online := keptOnline(t, tb.addr, "online", "t/#")
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	store.close()
	defer store.open()
	pub.publish(&packets.Publish{Topic: "t/a", Payload: []byte("x"), QoS: 1, PacketID: 1})
	<-store.entered
	p := online.nextPublish()
	pub.expectNothing(100 * time.Millisecond) // not before the subscriber has it
	online.ack(packets.TypePuback, p.PacketID)
	pub.expectAck(packets.TypePuback, 1)

	store.open() // the offline session's CONNACK and SUBACK wait for the store
	keptSubscriber(t, tb.addr, "offline", "t/b", 1)
	store.close()
	pub.publish(&packets.Publish{Topic: "t/b", Payload: []byte("y"), QoS: 1, PacketID: 2})
	p = online.nextPublish()
	online.ack(packets.TypePuback, p.PacketID)
	pub.expectNothing(200 * time.Millisecond) // the offline session has it only in memory
	store.open()
	pub.expectAck(packets.TypePuback, 2)
}

// flakyStore fails its first failures Commits with an error that passes (a
// JetStream stream electing a leader), then works.
type flakyStore struct {
	*session.MemoryStore
	failures atomic.Int32
	attempts atomic.Int32
}

func (s *flakyStore) Commit(ops []session.Op) error {
	s.attempts.Add(1)
	if s.failures.Add(-1) >= 0 {
		return errors.New("no response from stream")
	}
	return s.MemoryStore.Commit(ops)
}

// A commit that fails for a reason that passes is made again until it
// lands: the PUBACK waits for it on an open connection, and the message
// reaches the subscriber once (decision 0059; before, the publisher was
// disconnected and its resend made a second copy).
func TestPassingCommitFailureDelaysTheAcknowledgement(t *testing.T) {
	store := &flakyStore{MemoryStore: session.NewMemoryStore()}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	keptSubscriber(t, tb.addr, "offline", "t", 1)
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	before := store.attempts.Load()
	store.failures.Store(3)
	pub.publish(&packets.Publish{Topic: "t", Payload: []byte("kept"), QoS: 1, PacketID: 9})
	pub.expectAck(packets.TypePuback, 9)
	if n := store.attempts.Load() - before; n < 4 {
		t.Fatalf("PUBACK after %d commit attempts, want it after the 4th (3 failed)", n)
	}
	snap, err := store.MemoryStore.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range snap.Sessions {
		if r.ID == "offline" && (len(r.Queued) != 1 || string(r.Queued[0].Msg.Payload) != "kept") {
			t.Fatalf("the store holds %+v for the subscriber, want the one delivery of \"kept\"", r.Queued)
		}
	}
	cp := v5Connect("offline")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	c, _ := connectRaw(t, tb.addr, cp)
	if p := c.nextPublish(); string(p.Payload) != "kept" || p.Dup {
		t.Fatalf("the subscriber got %+v, want \"kept\"", p)
	}
}
