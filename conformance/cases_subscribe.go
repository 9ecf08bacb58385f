package conformance

import (
	"slices"

	"github.com/plumemq/plume/conformance/wire"
)

// Sections 3.8 SUBSCRIBE to 3.11 UNSUBACK.

var validSubackCodes = []byte{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}

var subscribeCases = []Case{
	{Name: "SubackCarriesSubscribePacketID", V5: []string{"3.8.4-1", "3.8.4-2", "2.2.1-6"}, V4: []string{"3.8.4-1", "3.8.4-2", "2.3.1-7"}, Run: func(t *T) {
		c := t.Client("c")
		c.Send(wire.Subscribe{PacketID: 0x4242, Subs: []wire.Subscription{{Filter: t.Topic("a"), Options: 1}}}.Encode(t.V))
		ack := c.Expect(wire.SUBACK)
		t.Check(ack.PacketID == 0x4242, "SUBACK id 0x%04x, want 0x4242", ack.PacketID)
	}},
	{Name: "SeveralFiltersInOneSubscribe", V5: []string{"3.8.4-5", "3.8.4-6", "3.9.3-1", "3.9.3-2"},
		V4: []string{"3.8.4-4", "3.8.4-5", "3.9.3-1", "3.9.3-2"}, Run: func(t *T) {
			c, ack := t.Connect(t.ConnectPacket("c"))
			max := byte(2)
			if q, ok := ack.Props.Get(wire.PropMaximumQoS); ok {
				max = byte(q.Int)
			}
			qos := []byte{2, 0, 1}
			var subs []wire.Subscription
			for i, q := range qos {
				subs = append(subs, wire.Subscription{Filter: t.Topic(string(rune('a' + i))), Options: q})
			}
			codes := c.SubscribeMany(subs)
			for i, rc := range codes {
				valid := slices.Contains(validSubackCodes, rc)
				if t.V == 4 {
					valid = slices.Contains([]byte{0, 1, 2, 0x80}, rc)
				}
				t.Check(valid, "SUBACK code 0x%02x is not a SUBACK code", rc)
				// A broker may grant less than asked, never more: with the
				// QoS asked in the order 2, 0, 1 any other order of the codes
				// shows up as a grant above the request.
				t.Check(rc <= min(qos[i], max), "code %d is 0x%02x for a filter asking QoS %d (the codes must follow the filters' order)", i, rc, qos[i])
			}
			pub := t.Client("pub")
			for _, s := range subs {
				pub.Publish(s.Filter, s.Filter, 0, false)
			}
			for range subs {
				c.ExpectPublish()
			}
		}},
	{Name: "SubscribeReservedFlagsRefused", V5: []string{"3.8.1-1"}, V4: []string{"3.8.1-1", "2.2.2-2"}, Run: func(t *T) {
		b := wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: t.Topic("a")}}}.Encode(t.V)
		b[0] = wire.SUBSCRIBE << 4
		refuses(t, true, b, "SUBSCRIBE with flags 0000")
	}},
	{Name: "SubscribeWithoutFiltersRefused", V5: []string{"3.8.3-2"}, V4: []string{"3.8.3-3"}, Run: func(t *T) {
		refuses(t, true, wire.Subscribe{PacketID: 1}.Encode(t.V), "SUBSCRIBE without a topic filter")
	}},
	{Name: "SubscriptionOptionsReservedBitsRefused", V5: []string{"3.8.3-5"}, V4: []string{"3-8.3-4"}, Run: func(t *T) {
		opts := byte(0xC0)
		if t.V == 4 {
			opts = 0x04
		}
		refuses(t, true, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: t.Topic("a"), Options: opts}}}.Encode(t.V),
			"SUBSCRIBE with reserved option bits set")
	}},
	{Name: "SubscribeQoS3Refused", V4: []string{"3-8.3-4"}, V5: []string{"3.8.3-5"}, Run: func(t *T) {
		refuses(t, true, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: t.Topic("a"), Options: 3}}}.Encode(t.V),
			"SUBSCRIBE with QoS 3")
	}},
	{Name: "IllFormedUTF8FilterRefused", V5: []string{"3.8.3-1"}, V4: []string{"3.8.3-1"}, Run: func(t *T) {
		refuses(t, true, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: t.Topic("a\xff")}}}.Encode(t.V),
			"SUBSCRIBE with an ill-formed UTF-8 filter")
	}},
	{Name: "NoLocalSuppressesOwnMessages", V5: []string{"3.8.3-3"}, Run: func(t *T) {
		topic := t.Topic("nl")
		c := t.Client("c")
		c.MustSubscribe(topic, 1|optNoLocal)
		c.Publish(topic, "own", 1, false)
		other := t.Client("o")
		other.Publish(topic, "other", 1, false)
		p := c.ExpectPublish()
		t.Check(string(p.Payload) == "other", "got %v; the client's own message must not come back", p)
	}},
	{Name: "UnsubackCarriesUnsubscribePacketID", V5: []string{"3.10.4-4", "3.10.4-5", "2.2.1-6"}, V4: []string{"3.10.4-4", "3.10.4-5", "2.3.1-7"}, Run: func(t *T) {
		c := t.Client("c")
		c.Send(wire.Unsubscribe{PacketID: 0x3131, Filters: []string{t.Topic("never")}}.Encode(t.V))
		ack := c.Expect(wire.UNSUBACK)
		t.Check(ack.PacketID == 0x3131, "UNSUBACK id 0x%04x, want 0x3131", ack.PacketID)
	}},
	{Name: "UnsubscribeMatchesFiltersExactly", V5: []string{"3.10.4-1", "3.10.4-2"}, V4: []string{"3.10.4-1", "3.10.4-2"}, Run: func(t *T) {
		topic := t.Topic("u/x")
		c := t.Client("c")
		c.MustSubscribe(t.Topic("u/+"), 1)
		c.Unsubscribe(topic) // not the filter held: nothing is removed
		pub := t.Client("pub")
		pub.Publish(topic, "still", 1, false)
		p := c.ExpectPublish()
		t.Check(string(p.Payload) == "still", "got %v", p)
		c.Unsubscribe(t.Topic("u/+"))
		pub.Publish(topic, "gone", 1, false)
		c.ExpectNothing("message after UNSUBSCRIBE")
	}},
	{Name: "UnsubscribeSeveralFilters", V5: []string{"3.10.4-6", "3.11.3-1", "3.11.3-2"}, V4: []string{"3.10.4-6"}, Run: func(t *T) {
		a, b := t.Topic("a"), t.Topic("b")
		c := t.Client("c")
		c.MustSubscribe(a, 1)
		c.MustSubscribe(b, 1)
		ack := c.Unsubscribe(a, t.Topic("never"), b)
		if t.V >= 5 {
			t.Check(len(ack.ReasonCodes) == 3, "UNSUBACK with %d codes for 3 filters", len(ack.ReasonCodes))
			valid := []byte{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}
			for _, rc := range ack.ReasonCodes {
				t.Check(slices.Contains(valid, rc), "UNSUBACK code 0x%02x is not an UNSUBACK code", rc)
			}
			t.Check(ack.ReasonCodes[0] == 0 && ack.ReasonCodes[1] == 0x11 && ack.ReasonCodes[2] == 0,
				"UNSUBACK codes % x, want 00 11 00", ack.ReasonCodes)
		}
		pub := t.Client("pub")
		pub.Publish(a, "x", 1, false)
		pub.Publish(b, "x", 1, false)
		c.ExpectNothing("messages after unsubscribing both filters")
	}},
	{Name: "UnsubscribeCompletesInflightQoS2", V5: []string{"3.10.4-3"}, V4: []string{"3.10.4-3"}, Run: func(t *T) {
		topic := t.Topic("u")
		c := t.Client("c")
		c.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		pub.Publish(topic, "x", 2, false)
		p := c.Expect(wire.PUBLISH)
		c.Send(wire.Ack(t.V, wire.PUBREC, p.PacketID, 0, nil))
		c.Send(wire.Unsubscribe{PacketID: 500, Filters: []string{topic}}.Encode(t.V))
		var rel, unsub bool
		for !rel || !unsub {
			q := c.Next()
			switch {
			case q.Type == wire.PUBREL && q.PacketID == p.PacketID:
				rel = true
			case q.Type == wire.UNSUBACK:
				unsub = true
			default:
				t.Fatalf("unexpected %v", q)
			}
		}
		c.Send(wire.Ack(t.V, wire.PUBCOMP, p.PacketID, 0, nil))
	}},
	{Name: "UnsubscribeReservedFlagsRefused", V5: []string{"3.10.1-1"}, V4: []string{"3.10.1-1"}, Run: func(t *T) {
		b := wire.Unsubscribe{PacketID: 1, Filters: []string{t.Topic("a")}}.Encode(t.V)
		b[0] = wire.UNSUBSCRIBE << 4
		refuses(t, true, b, "UNSUBSCRIBE with flags 0000")
	}},
	{Name: "UnsubscribeWithoutFiltersRefused", V5: []string{"3.10.3-2"}, V4: []string{"3.10.3-2"}, Run: func(t *T) {
		refuses(t, true, wire.Unsubscribe{PacketID: 1}.Encode(t.V), "UNSUBSCRIBE without a topic filter")
	}},
	{Name: "IllFormedUTF8UnsubscribeFilterRefused", V5: []string{"3.10.3-1"}, V4: []string{"3.10.3-1"}, Run: func(t *T) {
		refuses(t, true, wire.Unsubscribe{PacketID: 1, Filters: []string{t.Topic("\xc3(")}}.Encode(t.V),
			"UNSUBSCRIBE with an ill-formed UTF-8 filter")
	}},
}
