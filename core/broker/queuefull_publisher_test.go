package broker_test

import (
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// What a publisher sees when a subscriber's queue is full (decision 0013,
// item 5; issue 16): its PUBACK and PUBREC say Success, since they are about
// the message's acceptance; the drop shows only in the subscriber's session
// counters, Stats and $SYS. A second subscriber with room still gets every
// message, in order.
func TestPublisherIsAcknowledgedWhenASubscriberQueueIsFull(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxQueued: 2}})
	full, _ := connectRaw(t, tb.addr, persistent("qf-offline", 60))
	full.subscribe(1, sub("qf/t", 2))
	full.disconnect(packets.Success) // offline: what it is sent waits in its queue
	roomy, _ := connectRaw(t, tb.addr, persistent("qf-online", 60))
	roomy.subscribe(1, sub("qf/t", 1))

	p, _ := connectRaw(t, tb.addr, v5Connect("qf-publisher"))
	const n = 6
	for i := uint16(1); i <= n; i++ {
		qos := byte(1 + i%2)
		p.publish(&packets.Publish{Topic: "qf/t", QoS: qos, PacketID: i, Payload: []byte{byte(i)}})
		kind := packets.TypePuback
		if qos == 2 {
			kind = packets.TypePubrec
		}
		if a := p.expectAck(kind, i); a.Reason != packets.Success {
			t.Fatalf("message %d: %v reason %#x, want Success: a subscriber's full queue is not the publisher's", i, kind, a.Reason)
		}
		if qos == 2 {
			p.ack(packets.TypePubrel, i)
			p.expectAck(packets.TypePubcomp, i)
		}
	}
	for i := uint16(1); i <= n; i++ {
		if m := roomy.nextPublish(); m.Payload[0] != byte(i) {
			t.Fatalf("online subscriber got message %d, want %d", m.Payload[0], i)
		} else {
			roomy.ack(packets.TypePuback, m.PacketID)
		}
	}
	st, ok := tb.SessionStats("qf-offline")
	if !ok || st.Queued != 2 || st.Dropped != n-2 {
		t.Fatalf("offline session: %+v (found %v), want 2 queued and %d dropped", st, ok, n-2)
	}
	if bs := tb.Stats(); bs.DroppedQueueFull != n-2 || bs.Dropped != n-2 {
		t.Fatalf("broker counts %d queue-full drops (%d in all), want %d", bs.DroppedQueueFull, bs.Dropped, n-2)
	}
}
