package conformance

import (
	"fmt"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Sections 3.12 PINGREQ, 3.14 DISCONNECT, 3.15 AUTH, 4.8 shared
// subscriptions and 4.9 flow control.

var flowCases = []Case{
	{Name: "SendQuotaStartsWithinReceiveMaximum", V5: []string{"4.9.0-1", "3.3.4-10", "4.9.0-3", "4.1.0-1"}, Run: func(t *T) {
		sub, _, _ := receiveMaximumSetUp(t)
		first := sub.Expect(wire.PUBLISH)                        // a quota of zero would send nothing
		inflight := append([]*wire.Packet{first}, sub.Sync()...) // PINGRESP comes although the quota is used up
		t.Check(len(inflight) <= 2, "%d PUBLISH packets before PINGRESP, want 1 or 2 (Receive Maximum 2)", len(inflight))
		sub.MustSubscribe(t.Topic("other"), 0) // other packets are still answered
		var all []*wire.Packet
		for len(all) < 5 { // the queued messages are kept while connected
			if len(inflight) == 0 {
				inflight = append(inflight, sub.Expect(wire.PUBLISH))
			}
			all = append(all, inflight[0])
			sub.Ack(inflight[0])
			inflight = inflight[1:]
		}
		for i, p := range all {
			t.Check(string(p.Payload) == fmt.Sprint(i), "message %d was %q", i, p.Payload)
		}
	}},
	{Name: "ReceiveMaximumRespected", V5: []string{"3.3.4-9", "4.9.0-2"}, Run: func(t *T) {
		sub, _, _ := receiveMaximumSetUp(t)
		first := sub.Expect(wire.PUBLISH)
		inflight := append([]*wire.Packet{first}, sub.Sync()...)
		t.Check(len(inflight) <= 2, "%d PUBLISH packets in flight, Receive Maximum is 2: %v", len(inflight), inflight)
		var all []*wire.Packet
		for len(all) < 5 {
			if len(inflight) == 0 {
				inflight = append(inflight, sub.Expect(wire.PUBLISH))
			}
			t.Check(len(inflight) <= 2, "%d PUBLISH packets in flight after %d acknowledged, Receive Maximum is 2: %v", len(inflight), len(all), inflight)
			p := inflight[0]
			t.Check(p.Type == wire.PUBLISH, "unexpected %v", p)
			inflight = inflight[1:]
			all = append(all, p)
			sub.Ack(p) // frees one slot: at most one more may come
			inflight = append(inflight, sub.Sync()...)
		}
		t.Check(len(inflight) == 0, "more than the 5 messages published: %v", inflight)
	}},
}

var miscCases = []Case{
	{Name: "PingreqAnswered", V5: []string{"3.12.4-1"}, V4: []string{"3.12.4-1"}, Run: func(t *T) {
		c := t.Client("c")
		for i := 0; i < 3; i++ {
			c.Send(wire.Pingreq())
			c.Expect(wire.PINGRESP)
		}
	}},
	{Name: "DisconnectReservedFlagsRefused", V5: []string{"3.14.1-1"}, V4: []string{"3.14.1-1"}, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("malformed"), QoS: 1}, true)
		b := wire.Disconnect(t.V, 0, nil)
		b[0] |= 0x01
		c.Send(b)
		checkClosing(t, c.ExpectClosed(closeWait, "DISCONNECT with flags 0001"))
		// A malformed DISCONNECT is not a normal disconnection: the will goes out.
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "malformed", "got %v, want the will", p)
	}},
	{Name: "AuthReservedFlagsRefused", V5: []string{"3.15.1-1"}, Run: func(t *T) {
		b := wire.Auth(0x19, nil)
		b[0] |= 0x01
		refuses(t, true, b, "AUTH with flags 0001")
	}},
	{Name: "NoDisconnectBeforeConnack", V5: []string{"3.14.0-1"}, Run: func(t *T) {
		t.oldConnackOK = true // one of the CONNECTs asks for protocol version 6
		for _, b := range [][]byte{
			malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x01 }),
			malformedConnect(t, func(c *wire.Connect) { c.Version = 6 }),
			malformedConnect(t, func(c *wire.Connect) { c.Will = &wire.Will{Topic: "a", QoS: 3} }),
		} {
			for _, p := range connectRefused(t, b, "malformed CONNECT") {
				t.Check(p.Type != wire.DISCONNECT, "DISCONNECT before any CONNACK: %v", p)
			}
		}
	}},
}

// sharedAvailable skips the test unless the broker offers shared
// subscriptions.
func sharedAvailable(t *T) {
	_, ack := t.Connect(t.ConnectPacket("probe"))
	if p, ok := ack.Props.Get(wire.PropSharedSubAvailable); ok && p.Int == 0 {
		t.Skipf("broker announces Shared Subscription Available 0")
	}
}

var sharedCases = []Case{
	{Name: "SharedSubscriptionWithNoLocalRefused", V5: []string{"3.8.3-4"}, Run: func(t *T) {
		sharedAvailable(t)
		refuses(t, true, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: "$share/g/" + t.Topic("x"), Options: 1 | optNoLocal}}}.Encode(t.V),
			"shared subscription with No Local")
	}},
	{Name: "SharedQoS2DeliveryCompletedOnReconnect", V5: []string{"4.8.2-4"}, Run: func(t *T) {
		sharedAvailable(t)
		topic := t.Topic("s")
		filter := "$share/g" + t.tag + "/" + topic
		a, _ := t.persistent("a", false, 300)
		a.MustSubscribe(filter, 2)
		pub := t.Client("pub")
		pub.Publish(topic, "two", 2, false)
		first := a.Expect(wire.PUBLISH)
		a.drop() // before PUBREC: the delivery is not complete
		a, _ = t.persistent("a", false, 300)
		again := a.Expect(wire.PUBLISH)
		t.Check(string(again.Payload) == "two" && again.PacketID == first.PacketID && again.Dup,
			"got %v, want the QoS 2 message resent (id %d, DUP)", again, first.PacketID)
		a.Ack(again)
	}},
	{Name: "SharedMessageNotMovedWhenSessionEnds", V5: []string{"4.8.2-5"}, Timeout: 9 * time.Second, Run: func(t *T) {
		sharedAvailable(t)
		topic := t.Topic("s")
		filter := "$share/g" + t.tag + "/" + topic
		a, _ := t.persistent("a", false, 1)
		a.MustSubscribe(filter, 2)
		pub := t.Client("pub")
		pub.Publish(topic, "two", 2, false)
		a.Expect(wire.PUBLISH)
		b := t.Client("b")
		b.MustSubscribe(filter, 2)
		a.drop()                         // the session ends 1 s later, the delivery unfinished
		t.Idle(2500*time.Millisecond, b) // session expiry is a timer in the broker: nothing to await
		for _, p := range b.Sync() {
			t.Check(string(p.Payload) != "two", "the message of an ended session was sent to another member: %v", p)
		}
	}},
	{Name: "SharedSubscriptionGrantedQoSRespected", V5: []string{"4.8.2-3"}, Run: func(t *T) {
		sharedAvailable(t)
		topic := t.Topic("s")
		c := t.Client("c")
		c.MustSubscribe("$share/g"+t.tag+"/"+topic, 0)
		pub := t.Client("pub")
		pub.Publish(topic, "x", 2, false)
		p := c.ExpectPublish()
		t.Check(p.QoS == 0, "delivered at QoS %d to a QoS 0 shared subscription", p.QoS)
	}},
	{Name: "SharedSubscriptionRejectedMessageNotResent", V5: []string{"4.8.2-6"}, Run: func(t *T) {
		sharedAvailable(t)
		topic := t.Topic("s")
		filter := "$share/g" + t.tag + "/" + topic
		a, b := t.Client("a"), t.Client("b")
		a.MustSubscribe(filter, 1)
		b.MustSubscribe(filter, 1)
		pub := t.Client("pub")
		pub.Publish(topic, "reject-me", 1, false)
		var got *wire.Packet
		var taker, other *Client
		for got == nil {
			for _, c := range []*Client{a, b} {
				if ps := c.Sync(); len(ps) > 0 {
					got, taker = ps[0], c
				}
			}
		}
		other = a
		if taker == a {
			other = b
		}
		taker.Send(wire.Ack(t.V, wire.PUBACK, got.PacketID, 0x80, nil))
		taker.Sync()
		for _, p := range other.Sync() {
			t.Check(!strings.Contains(string(p.Payload), "reject-me"), "rejected message sent to another member: %v", p)
		}
	}},
}

// receiveMaximumSetUp connects a subscriber with Receive Maximum 2 and has
// five QoS 1 messages published to it.
func receiveMaximumSetUp(t *T) (sub, pub *Client, topic string) {
	topic = t.Topic("f")
	cp := t.ConnectPacket("sub")
	cp.Props = props(wire.Int(wire.PropReceiveMaximum, 2))
	sub, _ = t.Connect(cp)
	sub.MustSubscribe(topic, 1)
	pub = t.Client("pub")
	for i := 0; i < 5; i++ {
		pub.Publish(topic, fmt.Sprint(i), 1, false)
	}
	return sub, pub, topic
}
