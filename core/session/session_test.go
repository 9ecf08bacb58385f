package session_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// sink records what a session sends, as a connection would write it.
type sink struct {
	sent     []string // "publish <payload> id=<id> dup=<dup>" or "pubrel <id>"
	ids      []uint16
	batched  []string // payloads that came with a batch
	refuseQ0 bool
}

func (k *sink) SendPublish(d session.Delivery, b session.Batch) bool {
	if d.QoS == 0 && k.refuseQ0 {
		return false
	}
	if b != nil {
		k.batched = append(k.batched, string(d.Msg.Payload))
	}
	k.sent = append(k.sent, fmt.Sprintf("publish %s dup=%v", d.Msg.Payload, d.Dup))
	k.ids = append(k.ids, d.PacketID)
	return true
}

func (k *sink) SendPubrel(id uint16, b session.Batch) {
	if b != nil {
		k.batched = append(k.batched, fmt.Sprintf("pubrel %d", id))
	}
	k.sent = append(k.sent, fmt.Sprintf("pubrel %d", id))
}

func msg(payload string, qos byte) session.Delivery {
	return session.Delivery{Msg: &session.Message{Topic: "t", Payload: []byte(payload), QoS: qos}, QoS: qos}
}

func TestWindowBoundsInflightAndQueueFillsItInOrder(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 100})
	k := &sink{}
	s.Attach(k, 2)
	for _, p := range []string{"a", "b", "c", "d"} {
		if !s.Deliver(msg(p, 1), 1) {
			t.Fatalf("delivery %s refused", p)
		}
	}
	if st := s.Stats(); st.Inflight != 2 || st.Queued != 2 {
		t.Fatalf("stats %+v, want 2 in flight and 2 queued", st)
	}
	if !s.Acknowledge(packets.TypePuback, k.ids[1], packets.Success, 1) { // out of order
		t.Fatal("PUBACK of the second message refused")
	}
	if !s.Acknowledge(packets.TypePuback, k.ids[0], packets.Success, 1) {
		t.Fatal("PUBACK of the first message refused")
	}
	want := []string{"publish a dup=false", "publish b dup=false", "publish c dup=false", "publish d dup=false"}
	if !slices.Equal(k.sent, want) {
		t.Fatalf("sent %v, want %v", k.sent, want)
	}
	if s.Acknowledge(packets.TypePuback, k.ids[0], packets.Success, 1) {
		t.Fatal("a repeated PUBACK was accepted")
	}
}

func TestPacketIDsAreNonZeroAndUniqueInFlightAcrossWrap(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 65535)
	inflight := map[uint16]bool{}
	for i := 0; i < 150000; i++ {
		s.Deliver(msg("x", 1), 1)
		id := k.ids[len(k.ids)-1]
		if id == 0 {
			t.Fatal("packet id 0 [MQTT-2.2.1-3]")
		}
		if inflight[id] {
			t.Fatalf("id %d handed out while in flight", id)
		}
		inflight[id] = true
		if i%4 != 0 || len(inflight) > 20000 { // every fourth stays in flight, up to 20000
			s.Acknowledge(packets.TypePuback, id, packets.Success, 1)
			delete(inflight, id)
		}
	}
	if st := s.Stats(); st.Inflight != len(inflight) {
		t.Fatalf("Inflight = %d, want %d", st.Inflight, len(inflight))
	}
}

func TestQueueBoundDropsAndCounts(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 2}) // offline: everything queues
	for i, want := range []bool{true, true, false, false} {
		if got := s.Deliver(msg(fmt.Sprint(i), 1), 1); got != want {
			t.Fatalf("delivery %d: %v, want %v", i, got, want)
		}
	}
	if s.Deliver(msg("q0", 0), 1) {
		t.Fatal("QoS 0 accepted while offline")
	}
	if st := s.Stats(); st.Queued != 2 || st.Dropped != 3 {
		t.Fatalf("stats %+v, want 2 queued, 3 dropped", st)
	}
}

func TestQoS0RefusedByBackedUpSinkIsDropped(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	s.Attach(&sink{refuseQ0: true}, 10)
	if s.Deliver(msg("x", 0), 1) {
		t.Fatal("QoS 0 reported delivered")
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Fatalf("Dropped = %d", st.Dropped)
	}
}

func TestQoS2OutboundFlow(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 10)
	s.Deliver(msg("x", 2), 1)
	id := k.ids[0]
	if s.Acknowledge(packets.TypePubcomp, id, packets.Success, 1) {
		t.Fatal("PUBCOMP before PUBREC accepted")
	}
	if !s.Acknowledge(packets.TypePubrec, id, packets.Success, 1) {
		t.Fatal("PUBREC refused")
	}
	if k.sent[len(k.sent)-1] != fmt.Sprintf("pubrel %d", id) {
		t.Fatalf("no PUBREL after PUBREC: %v", k.sent)
	}
	if !s.Acknowledge(packets.TypePubrec, id, packets.Success, 1) || k.sent[len(k.sent)-1] != fmt.Sprintf("pubrel %d", id) || len(k.sent) != 3 {
		t.Fatalf("a repeated PUBREC was not answered with PUBREL again: %v", k.sent)
	}
	if s.Acknowledge(packets.TypePuback, id, packets.Success, 1) {
		t.Fatal("PUBACK for a QoS 2 message accepted")
	}
	if !s.Acknowledge(packets.TypePubcomp, id, packets.Success, 1) {
		t.Fatal("PUBCOMP refused")
	}
	if st := s.Stats(); st.Inflight != 0 {
		t.Fatalf("Inflight = %d after PUBCOMP", st.Inflight)
	}
}

func TestPubrecWithErrorEndsExchange(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 10)
	s.Deliver(msg("x", 2), 1)
	if !s.Acknowledge(packets.TypePubrec, k.ids[0], packets.QuotaExceeded, 1) {
		t.Fatal("error PUBREC refused")
	}
	if st := s.Stats(); st.Inflight != 0 || len(k.sent) != 1 {
		t.Fatalf("after error PUBREC: %+v, sent %v; want nothing in flight, no PUBREL [MQTT-4.3.3-4]", st, k.sent)
	}
}

func TestAttachResendsInFlightInOrderWithDup(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 10)
	s.Deliver(msg("a", 1), 1)
	s.Deliver(msg("b", 2), 1)
	s.Deliver(msg("c", 1), 1)
	s.Acknowledge(packets.TypePubrec, k.ids[1], packets.Success, 1)
	s.Detach(k)
	s.Deliver(msg("d", 1), 1) // queued while offline

	k2 := &sink{}
	s.Attach(k2, 10)
	want := []string{"publish a dup=true", fmt.Sprintf("pubrel %d", k.ids[1]), "publish c dup=true", "publish d dup=false"}
	if !slices.Equal(k2.sent, want) {
		t.Fatalf("resent %v, want %v", k2.sent, want)
	}
}

func TestDetachOfReplacedSinkChangesNothing(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	old, nu := &sink{}, &sink{}
	s.Attach(old, 10)
	s.Attach(nu, 10)
	if s.Detach(old) {
		t.Fatal("detaching a replaced sink reported true")
	}
	if !s.Online() {
		t.Fatal("session went offline")
	}
}

func TestExpiredQueuedMessagesAreSkipped(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	now := time.Now()
	stale := msg("stale", 1)
	stale.Msg.Expires = now.Add(-time.Second).UnixNano()
	fresh := msg("fresh", 1)
	fresh.Msg.Expires = now.Add(time.Hour).UnixNano()
	s.Deliver(stale, now.UnixNano())
	s.Deliver(fresh, now.UnixNano())
	k := &sink{}
	s.Attach(k, 10)
	if !slices.Equal(k.sent, []string{"publish fresh dup=false"}) {
		t.Fatalf("sent %v: an expired message went out [MQTT-3.3.2-5]", k.sent)
	}
}

func TestRemainingExpiry(t *testing.T) {
	m := session.Message{Expires: 10 * int64(time.Second)}
	for _, tc := range []struct {
		now  int64
		want uint32
	}{
		{0, 10}, {int64(1500 * time.Millisecond), 9}, {int64(9999 * time.Millisecond), 1}, {int64(20 * time.Second), 1},
	} {
		if got := m.RemainingExpiry(tc.now); got != tc.want {
			t.Errorf("RemainingExpiry(%d) = %d, want %d", tc.now, got, tc.want)
		}
	}
}

func TestInboundQoS2IDs(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	if s.ReceiveQoS2(5, 2) != session.Received {
		t.Fatal("first PUBLISH reported duplicate")
	}
	if s.ReceiveQoS2(5, 2) != session.Duplicate {
		t.Fatal("resent PUBLISH not recognised [MQTT-4.3.3-10]")
	}
	if s.ReceiveQoS2(6, 2) != session.Received || s.ReceiveQoS2(7, 2) != session.Full {
		t.Fatal("the third id awaiting PUBREL within a limit of 2 was not refused [MQTT-3.3.4-9]")
	}
	if s.ReceiveQoS2(6, 2) != session.Duplicate {
		t.Fatal("a resend at the limit counted as full, not as a resend")
	}
	if s.InboundQoS2() != 2 || !s.ReleaseQoS2(5) || s.ReleaseQoS2(5) || s.InboundQoS2() != 1 {
		t.Fatal("PUBREL bookkeeping wrong")
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	s.Owner = session.Owner{Authenticated: true, Principal: "alice"}
	s.SetExpiry(300)
	s.Subscribe(session.Subscription{Subscription: packets.Subscription{Filter: "a/#", QoS: 1}, Identifier: 4})
	s.Subscribe(session.Subscription{Subscription: packets.Subscription{Filter: "$share/g/b", QoS: 2}})
	k := &sink{}
	s.Attach(k, 2)
	s.Deliver(msg("1", 1), 1)
	s.Deliver(msg("2", 2), 1)
	s.Deliver(msg("3", 1), 1) // queued: window 2
	s.Acknowledge(packets.TypePubrec, k.ids[1], packets.Success, 1)
	s.ReceiveQoS2(77, 10)
	s.Detach(k)

	r := session.Restore(s.Snapshot(), &session.Limits{MaxQueued: 10})
	if r.ID != "c" || r.Expiry() != 300 || r.SubscriptionCount() != 2 || !r.HasSubscription("$share/g/b") {
		t.Fatalf("restored id %q expiry %d subs %v", r.ID, r.Expiry(), r.Subscriptions())
	}
	if r.Owner != s.Owner {
		t.Fatalf("restored owner %+v, want %+v: another identity could resume it after a restart", r.Owner, s.Owner)
	}
	if r.ReceiveQoS2(77, 10) != session.Duplicate {
		t.Fatal("inbound QoS 2 id lost")
	}
	k2 := &sink{}
	r.Attach(k2, 10)
	want := []string{"publish 1 dup=true", fmt.Sprintf("pubrel %d", k.ids[1]), "publish 3 dup=false"}
	if !slices.Equal(k2.sent, want) {
		t.Fatalf("restored session sent %v, want %v", k2.sent, want)
	}
	// New ids do not collide with restored ones.
	r.Deliver(msg("4", 1), 1)
	if id := k2.ids[len(k2.ids)-1]; id == k.ids[0] || id == k.ids[1] || id == k2.ids[1] {
		t.Fatalf("new packet id %d collides with one in flight", id)
	}
}

type batch struct{ sinks int }

func (b *batch) Defer(session.Sink) { b.sinks++ }

// The batch of DeliverBatched reaches the sink only for a delivery sent
// during the call: a queued message sent later, when an acknowledgement
// frees the window, or a resend, belongs to whoever causes it.
func TestBatchReachesTheSinkOnlyDuringTheCall(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 1)
	b := &batch{}
	s.DeliverBatched(msg("now-q0", 0), 1, b)
	s.DeliverBatched(msg("now-q1", 1), 1, b)
	s.DeliverBatched(msg("queued", 1), 1, b) // the window of 1 is full
	if !slices.Equal(k.batched, []string{"now-q0", "now-q1"}) {
		t.Fatalf("batched sends %v, want the two sent during their calls", k.batched)
	}
	if !s.Acknowledge(packets.TypePuback, k.ids[1], packets.Success, 1) {
		t.Fatal("PUBACK refused")
	}
	s.Detach(k)
	s.Attach(k, 1) // resends "queued" with DUP
	want := []string{"publish now-q0 dup=false", "publish now-q1 dup=false", "publish queued dup=false", "publish queued dup=true"}
	if !slices.Equal(k.sent, want) {
		t.Fatalf("sent %v, want %v", k.sent, want)
	}
	if len(k.batched) != 2 {
		t.Fatalf("batched sends %v: the drained and resent deliveries must not carry the batch", k.batched)
	}
}

// What an acknowledgement read by the session's own connection sends back —
// the PUBREL that answers a PUBREC, a queued message let into the freed
// window — goes with that reader's batch (decision 0045): before, the PUBREL
// went out on its own, and cost the broker a flusher goroutine per QoS 2
// delivery.
func TestAcknowledgeBatchedSendsWithTheBatch(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	k := &sink{}
	s.Attach(k, 1)
	s.Deliver(msg("first", 2), 1)
	s.Deliver(msg("queued", 2), 1) // the window of 1 is full
	id := k.ids[0]
	b := &batch{}
	if !s.AcknowledgeBatched(packets.TypePubrec, id, packets.Success, 1, b) {
		t.Fatal("PUBREC refused")
	}
	if !s.AcknowledgeBatched(packets.TypePubcomp, id, packets.Success, 1, b) {
		t.Fatal("PUBCOMP refused")
	}
	want := []string{fmt.Sprintf("pubrel %d", id), "queued"}
	if !slices.Equal(k.batched, want) {
		t.Fatalf("batched sends %v, want %v", k.batched, want)
	}
}
