package broker_test

import (
	"fmt"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// The counters by QoS, protocol version, reason and listener move by what
// the clients did, and agree with the totals of Stats.
func TestBreakdownCountsByQoSVersionReasonAndListener(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})

	sub, _ := connectRaw(t, tb.addr, v5Connect("sub"))
	sub.subscribe(1, sub2("t/#"))
	pub, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "pub"})

	// A refusal: 3.1.1 forbids an empty client id without Clean Start [MQTT-3.1.3-8].
	bad := dialRaw(t, tb.addr)
	if ack := bad.connect(&packets.Connect{ProtocolVersion: packets.V311}); ack.Reason != packets.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %v, want 0x85", ack.Reason)
	}

	eventually(t, "two clients connected", func() bool { return tb.Stats().ClientsConnected == 2 })
	b := tb.Breakdown()
	if b.ConnectedByVersion[4] != 1 || b.ConnectedByVersion[5] != 1 {
		t.Errorf("connected by version %v, want one 3.1.1 and one 5.0", b.ConnectedByVersion)
	}
	if len(b.Listeners) != 1 || b.Listeners[0] != (broker.ListenerStats{Name: "test", Connected: 2, Connects: 2, Refused: 1}) {
		t.Errorf("listeners %+v", b.Listeners)
	}
	if len(b.RefusedByReason) != 1 || b.RefusedByReason[packets.ClientIdentifierNotValid] != 1 {
		t.Errorf("refused by reason %v, want {0x85: 1}", b.RefusedByReason)
	}

	counts := [3]int{2, 3, 1}
	var wantIn, wantOut [3]uint64
	id := uint16(0)
	for qos, n := range counts {
		for i := range n {
			p := &packets.Publish{Topic: "t/x", QoS: byte(qos), Payload: []byte(fmt.Sprint("payload ", qos, i))}
			if qos > 0 {
				id++
				p.PacketID = id
			}
			// Bodies under 128 bytes have a 2-byte fixed header: the whole
			// packet is what BytesIn counts for it.
			wantIn[qos] += uint64(len(p.Append(nil, packets.V311)))
			pub.publish(p)
			switch qos {
			case 1:
				pub.expectAck(packets.TypePuback, id)
			case 2:
				pub.expectAck(packets.TypePubrec, id)
				pub.ack(packets.TypePubrel, id)
				pub.expectAck(packets.TypePubcomp, id)
			}
			got := sub.nextPublish()
			wantOut[got.QoS] += uint64(len(got.Append(nil, packets.V5)))
			switch got.QoS {
			case 1:
				sub.ack(packets.TypePuback, got.PacketID)
			case 2:
				sub.ack(packets.TypePubrec, got.PacketID)
				sub.expectAck(packets.TypePubrel, got.PacketID)
				sub.ack(packets.TypePubcomp, got.PacketID)
			}
		}
	}
	b = tb.Breakdown()
	if b.MessagesInByQoS != [3]uint64{2, 3, 1} || b.MessagesOutByQoS != [3]uint64{2, 3, 1} {
		t.Errorf("messages in %v, out %v by QoS, want [2 3 1] both", b.MessagesInByQoS, b.MessagesOutByQoS)
	}
	if b.PublishBytesInByQoS != wantIn || b.PublishBytesOutByQoS != wantOut {
		t.Errorf("publish bytes in %v out %v, want %v and %v", b.PublishBytesInByQoS, b.PublishBytesOutByQoS, wantIn, wantOut)
	}
	if s := tb.Stats(); s.MessagesIn != 6 || s.MessagesOut != 6 {
		t.Errorf("Stats: %d in, %d out, want 6 each", s.MessagesIn, s.MessagesOut)
	}

	pub.send(&packets.Disconnect{})
	pub.expectClosed()
	sub.disconnect(packets.DisconnectWithWill)
	eventually(t, "both disconnects counted", func() bool {
		b = tb.Breakdown()
		return len(b.Listeners) == 1 && b.Listeners[0].Disconnects == 2
	})
	if len(b.DisconnectsByReason) != 2 || b.DisconnectsByReason[packets.NormalDisconnection] != 1 ||
		b.DisconnectsByReason[packets.DisconnectWithWill] != 1 {
		t.Errorf("disconnects by reason %v, want {0x00: 1, 0x04: 1}", b.DisconnectsByReason)
	}
	if b.ConnectedByVersion != [6]int64{} || b.Listeners[0].Connected != 0 {
		t.Errorf("still connected: by version %v, listener %+v", b.ConnectedByVersion, b.Listeners[0])
	}
}

// Deliveries held by an offline session are counted as queued.
func TestBreakdownCountsQueuedMessages(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("offline")
	cp.CleanStart = true
	cp.Properties.SessionExpiry = 300
	cp.Properties.Set(packets.PropSessionExpiry)
	sub, _ := connectRaw(t, tb.addr, cp)
	sub.subscribe(1, sub2("q"))
	sub.disconnect(packets.NormalDisconnection)
	eventually(t, "the subscriber offline", func() bool { return tb.Stats().ClientsConnected == 0 })

	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	for i := range 3 {
		pub.publish(&packets.Publish{Topic: "q", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.expectAck(packets.TypePuback, uint16(i+1))
	}
	if b := tb.Breakdown(); b.Queued+b.Inflight != 3 {
		t.Fatalf("%d queued and %d in flight, want 3 held", b.Queued, b.Inflight)
	}
}

// sub2 is a subscription to filter at QoS 2.
func sub2(filter string) packets.Subscription { return sub(filter, 2) }

// A client that holds its CONNACK is counted connected: tests and operators
// read Stats.ClientsConnected right after a CONNECT returns, and a count that
// lagged the CONNACK let a flood loop end before it began.
func TestAClientHoldingItsCONNACKIsCounted(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for i := range 200 {
		connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("counted-%d", i)))
		if n := tb.Stats().ClientsConnected; n != i+1 {
			t.Fatalf("after %d CONNACKs, %d clients counted", i+1, n)
		}
	}
}
