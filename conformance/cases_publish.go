package conformance

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Sections 3.3 PUBLISH to 3.7 PUBCOMP and 4.3 QoS levels.

var validPubackCodes = []byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
var validPubcompCodes = []byte{0x00, 0x92}

var publishCases = []Case{
	{Name: "QoS0Delivered", V5: []string{"4.3.1-1", "2.2.1-2", "3.3.2-3", "1.5.5-1", "2.2.2-1", "3.3.1-2", "3.3.2-1"},
		V4: []string{"4.3.1-1", "2.3.1-5", "3.3.2-3", "3.3.1-2", "3.3.2-1"}, Run: func(t *T) {
			topic := t.Topic("q0")
			sub := t.Client("sub")
			sub.MustSubscribe(t.Topic("+"), 2)
			payload := strings.Repeat("p", 300) // a two byte Remaining Length
			pub := t.Client("pub")
			pub.Publish(topic, payload, 0, false)
			p := sub.ExpectPublish()
			t.Check(p.QoS == 0 && !p.Dup, "QoS %d DUP %v, want QoS 0 DUP 0", p.QoS, p.Dup)
			t.Check(p.Topic == topic, "topic %q, want %q", p.Topic, topic)
			t.Check(string(p.Payload) == payload, "payload of %d bytes, want the %d sent", len(p.Payload), len(payload))
		}},
	{Name: "QoS1Flow", V5: []string{"3.3.4-1", "4.3.2-4", "2.2.1-5", "4.3.2-1", "4.3.2-2", "2.2.1-4", "3.4.2-1"},
		V4: []string{"3.3.4-1", "4.3.2-2", "2.3.1-6", "2.3.1-1", "2.3.1-4"}, Run: func(t *T) {
			topic := t.Topic("q1")
			sub := t.Client("sub")
			sub.MustSubscribe(topic, 1)
			pub := t.Client("pub")
			for i := 0; i < 3; i++ {
				ack := pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte{byte('a' + i)}, QoS: 1, PacketID: 0x1230 + uint16(i)})
				t.Check(ack.PacketID == 0x1230+uint16(i), "PUBACK id 0x%04x", ack.PacketID)
				t.Check(slices.Contains(validPubackCodes, ack.ReasonCode), "PUBACK code 0x%02x is not a PUBACK reason code", ack.ReasonCode)
			}
			var got []*wire.Packet
			for i := 0; i < 3; i++ {
				p := sub.Expect(wire.PUBLISH)
				t.Check(p.QoS == 1 && !p.Dup, "first delivery %v, want QoS 1 and DUP 0", p)
				got = append(got, p)
			}
			t.Check(packetIDsDistinct(got), "unacknowledged QoS 1 deliveries share or lack packet ids: %v", got)
			for _, p := range got {
				sub.Ack(p)
			}
		}},
	{Name: "QoS2Flow", V5: []string{"4.3.3-8", "4.3.3-11", "4.3.3-1", "4.3.3-2", "3.5.2-1", "3.6.2-1", "3.7.2-1"},
		V4: []string{"4.3.3-2", "2.2.2-1"}, Run: func(t *T) {
			topic := t.Topic("q2")
			sub := t.Client("sub")
			sub.MustSubscribe(topic, 2)
			pub := t.Client("pub")
			pub.Send(wire.Publish{Topic: topic, Payload: []byte("x"), QoS: 2, PacketID: 0x2222}.Encode(t.V))
			rec := pub.Expect(wire.PUBREC)
			t.Check(rec.PacketID == 0x2222 && rec.ReasonCode < 0x80, "got %v, want PUBREC id 0x2222 success", rec)
			t.Check(slices.Contains([]byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, rec.ReasonCode), "PUBREC code 0x%02x is not a PUBREC reason code", rec.ReasonCode)
			pub.Send(wire.Ack(t.V, wire.PUBREL, 0x2222, 0, nil))
			comp := pub.Expect(wire.PUBCOMP)
			t.Check(comp.PacketID == 0x2222 && slices.Contains(validPubcompCodes, comp.ReasonCode), "got %v, want PUBCOMP id 0x2222", comp)
			p := sub.Expect(wire.PUBLISH)
			t.Check(p.QoS == 2 && !p.Dup && p.PacketID != 0, "first delivery %v, want QoS 2, DUP 0, an id", p)
			sub.Send(wire.Ack(t.V, wire.PUBREC, p.PacketID, 0, nil))
			rel := sub.Expect(wire.PUBREL)
			t.Check(rel.PacketID == p.PacketID && slices.Contains([]byte{0x00, 0x92}, rel.ReasonCode), "got %v, want PUBREL id %d", rel, p.PacketID)
			sub.Send(wire.Ack(t.V, wire.PUBCOMP, p.PacketID, 0, nil))
			sub.ExpectNothing("after PUBCOMP")
		}},
	{Name: "QoS1SameIDAfterPubackIsNewMessage", V5: []string{"4.3.2-5"}, V4: []string{"4.3.2-2"}, Run: func(t *T) {
		topic := t.Topic("q1")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("a"), QoS: 1, PacketID: 7})
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("b"), QoS: 1, PacketID: 7, Dup: true})
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(string(a.Payload) == "a" && string(b.Payload) == "b", "got %v and %v, want a then b", a, b)
	}},
	{Name: "QoS2DuplicateBeforePubrelDeliveredOnce", V5: []string{"4.3.3-10"}, V4: []string{"4.3.3-2"}, Run: func(t *T) {
		topic := t.Topic("q2")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		msg := wire.Publish{Topic: topic, Payload: []byte("once"), QoS: 2, PacketID: 9}
		pub.Send(msg.Encode(t.V))
		pub.Expect(wire.PUBREC)
		msg.Dup = true
		pub.Send(msg.Encode(t.V))
		rec := pub.Expect(wire.PUBREC)
		t.Check(rec.PacketID == 9, "PUBREC id %d for the duplicate", rec.PacketID)
		pub.Send(wire.Ack(t.V, wire.PUBREL, 9, 0, nil))
		pub.Expect(wire.PUBCOMP)
		before := t.barrier(sub, pub, topic)
		t.Check(len(before) == 1 && string(before[0].Payload) == "once", "delivered %v, want \"once\" exactly once", before)
	}},
	{Name: "QoS2SameIDAfterPubcompIsNewMessage", V5: []string{"4.3.3-12"}, Run: func(t *T) {
		topic := t.Topic("q2")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("a"), QoS: 2, PacketID: 11})
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("b"), QoS: 2, PacketID: 11})
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(string(a.Payload) == "a" && string(b.Payload) == "b", "got %v and %v, want a then b", a, b)
	}},
	{Name: "QoS2FlowCompletedAfterExpiry", V5: []string{"4.3.3-13"}, Timeout: 8 * time.Second, Run: func(t *T) {
		pub := t.Client("pub")
		pub.Send(wire.Publish{Topic: t.Topic("x"), Payload: []byte("x"), QoS: 2, PacketID: 5,
			Props: props(wire.Int(wire.PropMessageExpiry, 1))}.Encode(t.V))
		pub.Expect(wire.PUBREC)
		t.Idle(1500*time.Millisecond, pub) // let the message expire before PUBREL
		pub.Send(wire.Ack(t.V, wire.PUBREL, 5, 0, nil))
		comp := pub.Expect(wire.PUBCOMP)
		t.Check(comp.PacketID == 5 && comp.ReasonCode == 0, "got %v, want PUBCOMP id 5 success", comp)
	}},
	{Name: "DupNotPropagated", V5: []string{"3.3.1-3"}, V4: []string{"3.3.1-3"}, Run: func(t *T) {
		topic := t.Topic("d")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("x"), QoS: 1, Dup: true})
		p := sub.ExpectPublish()
		t.Check(!p.Dup, "first delivery of a message published with DUP 1 carries DUP 1")
	}},
	{Name: "QoS3PublishRefused", V5: []string{"3.3.1-4"}, V4: []string{"3.3.1-4"}, Run: func(t *T) {
		b := wire.Publish{Topic: t.Topic("x"), Payload: []byte("x"), QoS: 1, PacketID: 1}.Encode(t.V)
		b[0] |= 0x06
		refuses(t, true, b, "PUBLISH with QoS 3")
	}},
	{Name: "OverlappingSubscriptionsUseHighestQoS", V5: []string{"3.3.4-2"}, V4: []string{"3.3.5-1"}, Run: func(t *T) {
		topic := t.Topic("o/x")
		sub := t.Client("sub")
		sub.MustSubscribe(t.Topic("o/#"), 0)
		sub.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		pub.Publish(topic, "x", 2, false)
		got := t.barrier(sub, pub, topic)
		best := -1
		for _, p := range got {
			best = max(best, int(p.QoS))
		}
		t.Check(best == 2, "copies %v, want one at QoS 2", got)
	}},
	{Name: "SubscriptionIdentifiersOnOverlap", V5: []string{"3.3.4-3", "3.3.4-4", "3.3.4-5"}, Run: func(t *T) {
		sub, ack := t.Connect(t.ConnectPacket("sub"))
		if p, ok := ack.Props.Get(wire.PropSubIDAvailable); ok && p.Int == 0 {
			t.Skipf("broker announces Subscription Identifier Available 0")
		}
		topic := t.Topic("i/x")
		sub.MustSubscribe(t.Topic("i/+"), 1, wire.Int(wire.PropSubscriptionID, 1))
		sub.MustSubscribe(topic, 1, wire.Int(wire.PropSubscriptionID, 2))
		sub.MustSubscribe(t.Topic("i/#"), 1) // no identifier
		pub := t.Client("pub")
		pub.Publish(topic, "x", 1, false)
		copies := t.barrier(sub, pub, topic)
		var all []uint32
		for _, p := range copies {
			var ids []uint32
			for _, pr := range p.Props.All(wire.PropSubscriptionID) {
				ids = append(ids, pr.Int)
			}
			if len(copies) > 1 {
				t.Check(len(ids) <= 1, "a copy among several carries identifiers %v, want at most its own", ids)
			}
			all = append(all, ids...)
		}
		slices.Sort(all)
		t.Check(slices.Equal(all, []uint32{1, 2}), "subscription identifiers %v over %d copies, want 1 and 2 once each", all, len(copies))
	}},
	{Name: "DeliveredQoSIsMinimumOfPublishAndGrant", V5: []string{"3.8.4-8"}, V4: []string{"3.8.4-6"}, Run: func(t *T) {
		topic := t.Topic("m")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Publish(topic, "two", 2, false)
		pub.Publish(topic, "zero", 0, false)
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(a.QoS == 1 && b.QoS == 0, "delivered at QoS %d and %d, want 1 and 0", a.QoS, b.QoS)
	}},
	{Name: "MessagesFromOneClientKeepOrder", V5: []string{"4.6.0-5", "4.6.0-6"}, V4: []string{"4.6.0-5", "4.6.0-6"}, Run: func(t *T) {
		topic := t.Topic("ord")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		for i := 0; i < 20; i++ {
			pub.Publish(topic, fmt.Sprint(i), 1, false)
		}
		for i := 0; i < 20; i++ {
			p := sub.ExpectPublish()
			t.Check(string(p.Payload) == fmt.Sprint(i), "message %d was %q", i, p.Payload)
		}
	}},
	{Name: "PubrelReservedFlagsRefused", V5: []string{"3.6.1-1", "2.1.3-1"}, V4: []string{"3.6.1-1", "2.2.2-2"}, Run: func(t *T) {
		c := t.Client("c")
		c.Send(wire.Publish{Topic: t.Topic("x"), Payload: []byte("x"), QoS: 2, PacketID: 3}.Encode(t.V))
		c.Expect(wire.PUBREC)
		b := wire.Ack(t.V, wire.PUBREL, 3, 0, nil)
		b[0] = wire.PUBREL << 4 // flags 0000 instead of 0010
		c.Send(b)
		checkClosing(t, c.ExpectClosed(closeWait, "PUBREL with flags 0000"))
	}},
	{Name: "UnauthorisedPublishAcknowledgedOrClosed", V4: []string{"3.3.5-2"}, Run: func(t *T) {
		denied := t.Opts().DeniedTopic
		if denied == "" {
			t.Skipf("no --denied-topic given")
		}
		c := t.Client("c")
		c.Send(wire.Publish{Topic: denied, Payload: []byte("x"), QoS: 1, PacketID: 4}.Encode(t.V))
		p, err := c.TryNext(t.Wait(closeWait))
		if err != nil {
			return // closed: allowed
		}
		t.Check(p.Type == wire.PUBACK && p.PacketID == 4, "got %v, want PUBACK id 4 or a close", p)
	}},
	{Name: "RefusedQoS2IdentifierReusable", V5: []string{"4.3.3-9"}, Run: func(t *T) {
		denied := t.Opts().DeniedTopic
		if denied == "" {
			t.Skipf("no --denied-topic given")
		}
		topic := t.Topic("x")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		pub.Send(wire.Publish{Topic: denied, Payload: []byte("no"), QoS: 2, PacketID: 6}.Encode(t.V))
		rec := pub.Expect(wire.PUBREC)
		if rec.ReasonCode < 0x80 {
			t.Skipf("broker accepted the QoS 2 PUBLISH to %q (PUBREC 0x%02x)", denied, rec.ReasonCode)
		}
		pub.PublishPacket(wire.Publish{Topic: topic, Payload: []byte("yes"), QoS: 2, PacketID: 6})
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "yes", "got %v, want the new message with the reused id", p)
	}},
}
