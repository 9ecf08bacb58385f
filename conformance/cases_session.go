package conformance

import (
	"slices"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Sections 3.2 CONNACK, 4.1 session state and 4.4 message delivery retry.

// persistent connects name with the given clean start flag and, in 5.0, a
// session expiry; the session is removed after the test.
func (t *T) persistent(name string, clean bool, expiry uint32) (*Client, *wire.Packet) {
	cp := t.ConnectPacket(name)
	cp.CleanStart = clean
	if t.V >= 5 && expiry > 0 {
		cp.Props = props(wire.Int(wire.PropSessionExpiry, expiry))
	}
	c, ack := t.Connect(cp)
	id := cp.ClientID
	t.Cleanup(func() { t.EndSession(id) })
	return c, ack
}

// drop closes a connection without DISCONNECT, as a network failure would,
// and waits until the broker has seen it go: a new connection with the same
// id may then be used.
func (c *Client) drop() {
	c.Close()
}

// barrier publishes a marker on topic with QoS 1 and waits for it at sub;
// it returns what arrived before the marker. The marker comes from pub, so
// that it follows pub's earlier messages on the topic [MQTT-4.6.0-5], or
// from a fresh client when pub is nil (then a message the broker routes
// late may come after the marker: a negative check can pass wrongly, never
// fail wrongly).
func (t *T) barrier(sub, pub *Client, topic string) []*wire.Packet {
	if pub == nil {
		pub = t.Client("bar")
		defer pub.Disconnect()
	}
	pub.Publish(topic, "marker-"+t.tag, 1, false)
	var before []*wire.Packet
	for {
		p := sub.Expect(wire.PUBLISH)
		sub.Ack(p)
		if string(p.Payload) == "marker-"+t.tag {
			return before
		}
		before = append(before, p)
	}
}

var connackCases = []Case{
	{Name: "ConnackWellFormed", V5: []string{"3.2.2-1", "4.12.0-6", "3.1.2-28", "3.2.2-9"}, Run: func(t *T) {
		c := t.Dial()
		c.Send(t.ConnectPacket("a").Encode())
		ack := c.Expect(wire.CONNACK)
		t.Check(ack.AckFlags&0xfe == 0, "connect acknowledge flags 0x%02x", ack.AckFlags)
		t.Check(!ack.Props.Has(wire.PropAuthMethod), "Authentication Method in CONNACK to a CONNECT without one")
		t.Check(!ack.Props.Has(wire.PropResponseInfo), "Response Information without Request Response Information")
		max := byte(2)
		if q, ok := ack.Props.Get(wire.PropMaximumQoS); ok {
			t.Check(q.Int <= 1, "Maximum QoS %d (only 0 or 1 may be sent)", q.Int)
			max = byte(q.Int)
		}
		c.ExpectNothing("after CONNACK without a Authentication Method")
		// A broker that announced no lower Maximum QoS takes QoS 2.
		if ack := c.Publish(t.Topic("q"), "x", max, false); ack != nil {
			t.Check(ack.ReasonCode < 0x80, "QoS %d PUBLISH refused with 0x%02x although Maximum QoS is %d", max, ack.ReasonCode, max)
		}
	}},
	{Name: "ConnackWithinClientMaximumPacketSize", V5: []string{"3.2.2-19", "3.2.2-20"}, Run: func(t *T) {
		cp := t.ConnectPacket("a")
		cp.Props = props(wire.Int(wire.PropMaximumPacketSize, 64), wire.Int(wire.PropRequestProblemInfo, 1))
		_, ack := t.Connect(cp)
		t.Check(ack.Size <= 64, "CONNACK of %d bytes to a client whose Maximum Packet Size is 64", ack.Size)
	}},
	{Name: "SubscribeAtEveryQoSAccepted", V5: []string{"3.2.2-10", "3.8.4-7"}, V4: []string{"3.8.4-5"}, Run: func(t *T) {
		c, ack := t.Connect(t.ConnectPacket("s"))
		max := byte(2)
		if q, ok := ack.Props.Get(wire.PropMaximumQoS); ok {
			max = byte(q.Int)
		}
		codes := c.SubscribeMany([]wire.Subscription{{Filter: t.Topic("q0"), Options: 0}, {Filter: t.Topic("q1"), Options: 1}, {Filter: t.Topic("q2"), Options: 2}})
		for i, rc := range codes {
			// Granting less than asked is allowed; refusing is not.
			t.Check(rc <= byte(i) && rc <= max, "SUBSCRIBE at QoS %d: code 0x%02x, want a granted QoS of at most %d (Maximum QoS %d)", i, rc, i, max)
		}
	}},
	{Name: "WillQoSAboveMaximumRefused", V5: []string{"3.2.2-12"}, Run: func(t *T) {
		_, ack := t.Connect(t.ConnectPacket("a"))
		q, ok := ack.Props.Get(wire.PropMaximumQoS)
		if !ok {
			t.Skipf("broker supports QoS 2, so every will QoS is within its capabilities")
		}
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Will = &wire.Will{Topic: t.Topic("w"), Payload: []byte("w"), QoS: byte(q.Int) + 1}
		}), "will QoS above Maximum QoS")
	}},
	{Name: "WillRetainWithoutRetainAvailableRefused", V5: []string{"3.2.2-13"}, Run: func(t *T) {
		_, ack := t.Connect(t.ConnectPacket("a"))
		if r, ok := ack.Props.Get(wire.PropRetainAvailable); !ok || r.Int != 0 {
			t.Skipf("broker supports retained messages")
		}
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Will = &wire.Will{Topic: t.Topic("w"), Payload: []byte("w"), Retain: true}
		}), "will retain on a broker without retained messages")
	}},
}

var sessionCases = []Case{
	{Name: "CleanStartDiscardsSession", V5: []string{"3.1.2-4", "3.2.2-2", "3.1.4-4"}, V4: []string{"3.1.2-6", "3.2.2-1", "3.1.4-3"}, Run: func(t *T) {
		topic := t.Topic("s")
		c, _ := t.persistent("p", false, 300)
		c.MustSubscribe(topic, 1)
		c.Disconnect()
		c, ack := t.persistent("p", true, 300)
		t.Check(!ack.SessionPresent, "Session Present 1 after a clean start")
		pub := t.Client("pub")
		pub.Publish(topic, "x", 1, false)
		c.ExpectNothing("message for a subscription of a discarded session")
	}},
	{Name: "SessionResumed", V5: []string{"3.1.2-5", "3.1.2-23", "3.2.2-3", "3.1.3-2", "4.5.0-1"},
		V4: []string{"3.1.2-4", "3.1.2-5", "3.2.2-2", "3.1.3-2", "4.1.0-1"}, Run: func(t *T) {
			topic := t.Topic("s")
			c, _ := t.persistent("p", false, 300)
			c.MustSubscribe(topic, 1)
			c.Disconnect()
			pub := t.Client("pub")
			pub.Publish(topic, "while-away", 1, false)
			other, ack := t.persistent("q", false, 300)
			t.Check(!ack.SessionPresent, "Session Present 1 for a client id that never connected")
			other.Disconnect()
			c, ack = t.persistent("p", false, 300)
			t.Check(ack.SessionPresent, "Session Present 0 when resuming a stored session")
			p := c.ExpectPublish()
			t.Check(string(p.Payload) == "while-away" && p.QoS == 1, "got %v, want the QoS 1 message sent while away", p)
		}},
	{Name: "NewSessionWithoutCleanStart", V5: []string{"3.1.2-6"}, V4: []string{"3.2.2-3"}, Run: func(t *T) {
		_, ack := t.persistent("n", false, 300)
		t.Check(!ack.SessionPresent, "Session Present 1 for a new client id")
	}},
	{Name: "SessionExpires", V5: []string{"4.1.0-2"}, Timeout: 9 * time.Second, Run: func(t *T) {
		topic := t.Topic("s")
		c, _ := t.persistent("e", false, 1)
		c.MustSubscribe(topic, 1)
		c.Disconnect()
		t.Idle(2500 * time.Millisecond) // the expiry is a timer in the broker: nothing to await
		c, ack := t.persistent("e", false, 1)
		t.Check(!ack.SessionPresent, "Session Present 1 after the Session Expiry Interval passed")
		pub := t.Client("pub")
		pub.Publish(topic, "x", 1, false)
		c.ExpectNothing("message for a subscription of an expired session")
	}},
	{Name: "UnacknowledgedQoS1ResentOnResume", V5: []string{"4.4.0-1", "3.3.1-1", "4.3.2-3"}, V4: []string{"4.4.0-1", "3.3.1-1", "4.3.2-1"}, Run: func(t *T) {
		topic := t.Topic("r")
		c, _ := t.persistent("r", false, 300)
		c.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Publish(topic, "one", 1, false)
		first := c.Expect(wire.PUBLISH)
		t.Check(!first.Dup, "first delivery with DUP 1")
		c.drop()
		c, ack := t.persistent("r", false, 300)
		t.Check(ack.SessionPresent, "Session Present 0 on resume")
		again := c.Expect(wire.PUBLISH)
		t.Check(again.PacketID == first.PacketID, "resent with packet id %d, original %d", again.PacketID, first.PacketID)
		t.Check(again.Dup, "resent PUBLISH without DUP")
		t.Check(string(again.Payload) == "one", "resent payload %q", again.Payload)
		c.Ack(again)
		c.ExpectNothing("after the acknowledged resend")
	}},
	{Name: "UnacknowledgedQoS2ResentOnResume", V5: []string{"4.3.3-3"}, V4: []string{"4.3.3-1"}, Run: func(t *T) {
		qos2ResentAfter(t, 0)
	}},
	{Name: "SentQoS2NotExpired", V5: []string{"4.3.3-7"}, Timeout: 9 * time.Second, Run: func(t *T) {
		qos2ResentAfter(t, 2500*time.Millisecond)
	}},
	{Name: "PubrelResentOnResume", V5: []string{"4.3.3-4", "4.3.3-5", "4.3.3-6"}, V4: []string{"4.3.3-1"}, Run: func(t *T) {
		topic := t.Topic("r")
		c, _ := t.persistent("r", false, 300)
		c.MustSubscribe(topic, 2)
		pub := t.Client("pub")
		pub.Publish(topic, "two", 2, false)
		p := c.Expect(wire.PUBLISH)
		c.Send(wire.Ack(t.V, wire.PUBREC, p.PacketID, 0, nil))
		rel := c.Expect(wire.PUBREL)
		t.Check(rel.PacketID == p.PacketID, "PUBREL id %d for PUBLISH id %d", rel.PacketID, p.PacketID)
		c.drop()
		c, _ = t.persistent("r", false, 300)
		rel = c.Next()
		t.Check(rel.Type == wire.PUBREL && rel.PacketID == p.PacketID, "got %v after resume, want PUBREL id %d", rel, p.PacketID)
		c.Send(wire.Ack(t.V, wire.PUBCOMP, p.PacketID, 0, nil))
		c.ExpectNothing("after PUBCOMP (the PUBLISH must not be resent once PUBREL was sent)")
	}},
	{Name: "RejectedPubackNotRetransmitted", V5: []string{"4.4.0-2"}, Run: func(t *T) {
		topic := t.Topic("r")
		c, _ := t.persistent("r", false, 300)
		c.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Publish(topic, "no", 1, false)
		p := c.Expect(wire.PUBLISH)
		c.Send(wire.Ack(t.V, wire.PUBACK, p.PacketID, 0x80, nil))
		c.Disconnect()
		c, _ = t.persistent("r", false, 300)
		c.ExpectNothing("retransmission of a PUBLISH answered with PUBACK 0x80")
	}},
	{Name: "SessionLastsWhileConnected", V4: []string{"4.1.0-2"}, Run: func(t *T) {
		topic := t.Topic("s")
		c := t.Client("c") // clean session: the session lasts exactly as long as the connection
		c.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		for i := 0; i < 3; i++ {
			c.Send(wire.Pingreq())
			c.Expect(wire.PINGRESP)
			pub.Publish(topic, "x", 1, false)
			c.ExpectPublish()
		}
	}},
	{Name: "RetainedMessagesOutliveSessions", V4: []string{"3.1.2-7"}, Run: func(t *T) {
		topic := t.RetainedTopic("k")
		c := t.Client("a")
		c.Publish(topic, "kept", 1, true)
		c.Disconnect()
		s := t.Client("a") // clean session: the old one ends
		s.MustSubscribe(topic, 1)
		p := s.ExpectPublish()
		t.Check(string(p.Payload) == "kept", "retained message lost with the session: got %v", p)
	}},
}

// packetIDsDistinct reports whether the packets' identifiers are non-zero
// and distinct.
func packetIDsDistinct(ps []*wire.Packet) bool {
	var ids []uint16
	for _, p := range ps {
		if p.PacketID == 0 || slices.Contains(ids, p.PacketID) {
			return false
		}
		ids = append(ids, p.PacketID)
	}
	return true
}

// qos2ResentAfter receives a QoS 2 PUBLISH without answering, drops the
// connection, waits (past the message's 1 s expiry when wait > 1 s) and
// expects the PUBLISH again, with DUP, on resume.
func qos2ResentAfter(t *T, wait time.Duration) {
	topic := t.Topic("r")
	c, _ := t.persistent("r", false, 300)
	c.MustSubscribe(topic, 2)
	pub := t.Client("pub")
	var ps []wire.Property
	if wait > 0 && t.V >= 5 {
		ps = append(ps, wire.Int(wire.PropMessageExpiry, 1))
	}
	pub.Publish(topic, "two", 2, false, ps...)
	first := c.Expect(wire.PUBLISH)
	c.drop()
	t.Idle(wait, pub) // message expiry is a timer in the broker: nothing to await
	c, _ = t.persistent("r", false, 300)
	again := c.Expect(wire.PUBLISH)
	t.Check(again.PacketID == first.PacketID && again.Dup && string(again.Payload) == "two",
		"got %v, want the unacknowledged QoS 2 PUBLISH resent with DUP (id %d)", again, first.PacketID)
	c.Ack(again)
}
