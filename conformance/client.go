package conformance

import (
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Client is a raw connection with small helpers that fail the test on
// surprises.
type Client struct {
	*wire.Conn
	t        *T
	nextID   uint16
	pending  []*wire.Packet
	ClientID string

	// What the broker's 5.0 CONNACK announced (2 and true when absent).
	maxQoS   byte
	noRetain bool
}

// Send writes raw bytes. A well-formed PUBLISH beyond what the broker's
// CONNACK allows (Maximum QoS, Retain Available) skips the test instead: a
// client must not send it [MQTT-3.2.2-11] [MQTT-3.2.2-14], so the test cannot
// run on this broker.
func (c *Client) Send(b []byte) {
	if len(b) > 0 && b[0]>>4 == wire.PUBLISH {
		if q := (b[0] >> 1) & 3; q <= 2 && q > c.maxQoS {
			c.t.Skipf("the broker's Maximum QoS is %d; this test publishes at QoS %d", c.maxQoS, q)
		}
		if b[0]&1 != 0 && c.noRetain {
			c.t.Skipf("the broker announces Retain Available 0; this test publishes a retained message")
		}
	}
	if err := c.Write(b, c.t.Wait(2*time.Second)+time.Millisecond); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// ID returns a fresh packet identifier.
func (c *Client) ID() uint16 {
	id := c.nextID
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return id
}

// TryNext reads the next packet within d; it returns the error instead of
// failing.
func (c *Client) TryNext(d time.Duration) (*wire.Packet, error) {
	if len(c.pending) > 0 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		return p, nil
	}
	p, err := c.Read(d)
	if err == nil {
		c.t.noteViolations(p)
	}
	return p, err
}

// Next reads the next packet, failing the test on a timeout or close.
func (c *Client) Next() *wire.Packet {
	p, err := c.TryNext(c.t.Left())
	if err != nil {
		c.t.Fatalf("waiting for a packet: %v", err)
	}
	return p
}

// Expect reads the next packet and fails unless it has the given type.
func (c *Client) Expect(typ byte) *wire.Packet {
	p, err := c.TryNext(c.t.Left())
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", wire.TypeName(typ), err)
	}
	if p.Type != typ {
		c.t.Fatalf("expected %s, got %v", wire.TypeName(typ), p)
	}
	return p
}

// ExpectClosed waits (at most d, within the deadline) for the broker to close
// the connection and returns the packets sent before it, failing if it
// stays open.
func (c *Client) ExpectClosed(d time.Duration, why string) []*wire.Packet {
	var seen []*wire.Packet
	seen = append(seen, c.pending...)
	c.pending = nil
	out, more := c.Conn.ExpectClosed(c.t.Wait(d))
	for _, p := range more {
		c.t.noteViolations(p)
	}
	seen = append(seen, more...)
	if out != wire.Closed {
		c.t.Fatalf("%s: connection still open after %v (saw %v)", why, d, seen)
	}
	return seen
}

// Idle waits d while keeping the given connections alive with PINGREQ
// (the broker may have set a short Server Keep Alive); what arrives on them
// meanwhile is kept for later reads.
func (t *T) Idle(d time.Duration, keep ...*Client) {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, 500*time.Millisecond))
		for _, c := range keep {
			got := c.Sync()
			c.pending = append(c.pending, got...)
		}
	}
}

// Sync sends PINGREQ and returns everything that arrives before the
// PINGRESP: what the broker had queued for this client by then.
func (c *Client) Sync() []*wire.Packet {
	queued := c.pending
	c.pending = nil
	c.Send(wire.Pingreq())
	var got []*wire.Packet
	for {
		p, err := c.Read(c.t.Left())
		if err != nil {
			c.t.Fatalf("waiting for PINGRESP: %v", err)
		}
		c.t.noteViolations(p)
		if p.Type == wire.PINGRESP {
			return append(queued, got...)
		}
		got = append(got, p)
	}
}

// ExpectNothing fails if anything but the given types arrives before a
// PINGRESP.
func (c *Client) ExpectNothing(why string) {
	if got := c.Sync(); len(got) > 0 {
		c.t.Fatalf("%s: got %v", why, got)
	}
}

// Subscribe subscribes to one filter with the options byte and returns the
// SUBACK's reason code.
func (c *Client) Subscribe(filter string, opts byte, props ...wire.Property) byte {
	return c.SubscribeMany([]wire.Subscription{{Filter: filter, Options: opts}}, props...)[0]
}

// SubscribeMany sends one SUBSCRIBE and returns the SUBACK's codes.
func (c *Client) SubscribeMany(subs []wire.Subscription, props ...wire.Property) []byte {
	id := c.ID()
	c.Send(wire.Subscribe{PacketID: id, Subs: subs, Props: props}.Encode(c.Version))
	ack := c.expectSkippingPublish(wire.SUBACK)
	if ack.PacketID != id {
		c.t.Fatalf("SUBACK for packet id %d, want %d", ack.PacketID, id)
	}
	if len(ack.ReasonCodes) != len(subs) {
		c.t.Fatalf("SUBACK with %d codes for %d filters", len(ack.ReasonCodes), len(subs))
	}
	return ack.ReasonCodes
}

// MustSubscribe subscribes and fails unless the broker accepts. A broker may
// grant less than the QoS asked; a test that needs the QoS it asked for is
// then skipped, since it cannot run there.
func (c *Client) MustSubscribe(filter string, opts byte, props ...wire.Property) {
	rc := c.Subscribe(filter, opts, props...)
	switch {
	case rc >= 0x80:
		c.t.Fatalf("SUBSCRIBE %q options 0x%02x refused with 0x%02x; the suite needs a broker that lets it subscribe there", filter, opts, rc)
	case rc > opts&3:
		c.t.Fatalf("SUBSCRIBE %q at QoS %d granted QoS %d, more than asked", filter, opts&3, rc)
	case rc < opts&3:
		c.t.Skipf("the broker grants QoS %d for a QoS %d subscription (it may); this test needs QoS %d", rc, opts&3, opts&3)
	}
}

// Unsubscribe unsubscribes and returns the UNSUBACK.
func (c *Client) Unsubscribe(filters ...string) *wire.Packet {
	id := c.ID()
	c.Send(wire.Unsubscribe{PacketID: id, Filters: filters}.Encode(c.Version))
	ack := c.expectSkippingPublish(wire.UNSUBACK)
	if ack.PacketID != id {
		c.t.Fatalf("UNSUBACK for packet id %d, want %d", ack.PacketID, id)
	}
	return ack
}

// expectSkippingPublish waits for typ, keeping PUBLISH packets that arrive
// first (retained messages) for later reads.
func (c *Client) expectSkippingPublish(typ byte) *wire.Packet {
	var kept []*wire.Packet
	for {
		p, err := c.Read(c.t.Left())
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", wire.TypeName(typ), err)
		}
		c.t.noteViolations(p)
		if p.Type == typ {
			c.pending = append(c.pending, kept...)
			return p
		}
		if p.Type != wire.PUBLISH {
			c.t.Fatalf("expected %s, got %v", wire.TypeName(typ), p)
		}
		kept = append(kept, p)
	}
}

// Publish publishes and completes the QoS flow; it returns the final
// acknowledgement (nil at QoS 0).
func (c *Client) Publish(topic string, payload string, qos byte, retain bool, props ...wire.Property) *wire.Packet {
	return c.PublishPacket(wire.Publish{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain, Props: props})
}

// PublishPacket sends p (assigning a packet id if it needs one) and
// completes its QoS flow.
func (c *Client) PublishPacket(p wire.Publish) *wire.Packet {
	if p.QoS > 0 && p.PacketID == 0 {
		p.PacketID = c.ID()
	}
	c.Send(p.Encode(c.Version))
	switch p.QoS {
	case 1:
		ack := c.expectSkippingPublish(wire.PUBACK)
		c.t.Check(ack.PacketID == p.PacketID, "PUBACK id %d, want %d", ack.PacketID, p.PacketID)
		return ack
	case 2:
		rec := c.expectSkippingPublish(wire.PUBREC)
		c.t.Check(rec.PacketID == p.PacketID, "PUBREC id %d, want %d", rec.PacketID, p.PacketID)
		if rec.ReasonCode >= 0x80 {
			return rec
		}
		c.Send(wire.Ack(c.Version, wire.PUBREL, p.PacketID, 0, nil))
		comp := c.expectSkippingPublish(wire.PUBCOMP)
		c.t.Check(comp.PacketID == p.PacketID, "PUBCOMP id %d, want %d", comp.PacketID, p.PacketID)
		return comp
	}
	return nil
}

// ExpectPublish reads the next packet, fails unless it is a PUBLISH, and
// acknowledges it according to its QoS.
func (c *Client) ExpectPublish() *wire.Packet {
	p := c.Expect(wire.PUBLISH)
	c.Ack(p)
	return p
}

// Ack acknowledges a received PUBLISH (QoS 2: PUBREC, PUBREL, PUBCOMP).
func (c *Client) Ack(p *wire.Packet) {
	switch p.QoS {
	case 1:
		c.Send(wire.Ack(c.Version, wire.PUBACK, p.PacketID, 0, nil))
	case 2:
		c.Send(wire.Ack(c.Version, wire.PUBREC, p.PacketID, 0, nil))
		var kept []*wire.Packet
		for {
			q := c.Next()
			if q.Type == wire.PUBREL && q.PacketID == p.PacketID {
				break
			}
			kept = append(kept, q)
		}
		c.pending = append(c.pending, kept...)
		c.Send(wire.Ack(c.Version, wire.PUBCOMP, p.PacketID, 0, nil))
	}
}

// Disconnect sends a normal DISCONNECT and closes the connection once the
// broker has closed its side (at most a second): the broker has then handled
// the DISCONNECT, so what a test publishes next finds the session offline.
// Without that wait, a message published at once may legitimately reach the
// closing connection first and come back, resent, on the next one.
func (c *Client) Disconnect() {
	c.Write(wire.Disconnect(c.Version, 0, nil), time.Second)
	c.Conn.ExpectClosed(time.Second)
	c.Close()
}
