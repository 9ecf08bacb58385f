package broker_test

// The adversarial suite, read side: clients that send slowly, stall, lie
// about lengths or announce more than they send. Each test is an attack that
// once worked (issue 8) and the figure that shows it no longer does.

import (
	"bytes"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// injectedPayload is a payload that contains whole MQTT packets: a PINGREQ
// and a SUBSCRIBE. A reader that loses its place in the stream parses them as
// commands of the publisher's.
func injectedPayload(size int) []byte {
	p := bytes.Repeat([]byte{0xC0, 0x00}, size/2) // PINGREQ, PINGREQ, ...
	s := (&packets.Subscribe{PacketID: 7, Subscriptions: []packets.Subscription{sub("#", 0)}}).Append(nil, packets.V5)
	copy(p[size/2:], s)
	return p
}

// A PUBLISH whose body arrives in two halves with a pause longer than the
// park timer is delivered whole, and nothing inside its payload is taken for
// a packet.
func TestSlowPublishBodyIsReadWhole(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 50 * time.Millisecond})
	subr, _ := connectRaw(t, tb.addr, v5Connect("slow-sub"))
	subr.subscribe(1, sub("slow/t", 1))
	pub, _ := connectRaw(t, tb.addr, v5Connect("slow-pub"))

	payload := injectedPayload(100_000)
	wire := (&packets.Publish{Topic: "slow/t", QoS: 1, PacketID: 1, Payload: payload}).Append(nil, packets.V5)
	pub.write(wire[:len(wire)/2])
	// The pause is the attack: four park timers pass mid-body. There is no
	// condition to await; the broker must do nothing during it.
	time.Sleep(200 * time.Millisecond)
	pub.write(wire[len(wire)/2:])

	pub.expectAck(packets.TypePuback, 1)
	got := subr.nextPublish()
	if !bytes.Equal(got.Payload, payload) {
		t.Fatalf("subscriber got %d bytes, want the %d published", len(got.Payload), len(payload))
	}
	// The PINGREQs and the SUBSCRIBE inside the payload were payload.
	pub.expectNothing(300 * time.Millisecond)
}

// A body that trickles in small pieces over many park timers is read to its
// end: progress, not time since the first byte, keeps it alive.
func TestTricklingPublishBodyIsReadWhole(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond,
		Limits: broker.Limits{PacketReadTimeout: 2 * time.Second}})
	subr, _ := connectRaw(t, tb.addr, v5Connect("trickle-sub"))
	subr.subscribe(1, sub("trickle/t", 0))
	pub, _ := connectRaw(t, tb.addr, v5Connect("trickle-pub"))

	payload := injectedPayload(8_000)
	wire := (&packets.Publish{Topic: "trickle/t", QoS: 1, PacketID: 9, Payload: payload}).Append(nil, packets.V5)
	start := time.Now()
	for i := 0; i < len(wire); i += 400 {
		pub.write(wire[i:min(i+400, len(wire))])
		time.Sleep(10 * time.Millisecond) // the trickle itself: 20 writes
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("the trickle did not outlast the park timer")
	}
	pub.expectAck(packets.TypePuback, 9)
	if got := subr.nextPublish(); !bytes.Equal(got.Payload, payload) {
		t.Fatalf("subscriber got %d bytes, want %d", len(got.Payload), len(payload))
	}
	pub.expectNothing(200 * time.Millisecond)
}

// A packet that stops arriving is cut off after PacketReadTimeout of
// silence, with 0x8D, even without a keep-alive.
func TestStalledPacketIsCutOff(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true,
		Limits: broker.Limits{PacketReadTimeout: 300 * time.Millisecond}})
	cp := v5Connect("stall")
	cp.KeepAlive = 0
	c, _ := connectRaw(t, tb.addr, cp)
	wire := (&packets.Publish{Topic: "stall/t", Payload: make([]byte, 50_000)}).Append(nil, packets.V5)
	c.write(wire[:1000])
	start := time.Now()
	c.expectDisconnect(packets.KeepAliveTimeout)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("cut off after %v, before the packet read timeout", d)
	}
	eventually(t, "the partial packet's bytes released", func() bool { return tb.Stats().PartialPacketBytes == 0 })
}

// Connections that announce a megabyte and send a byte make the broker hold
// what arrived (plus a small first chunk), not what was announced.
func TestAnnouncedLengthIsNotAllocated(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	const conns = 100
	for i := range conns {
		c, _ := connectRaw(t, tb.addr, v5Connect("announce-"+string(rune('a'+i%26))+string(rune('a'+i/26))))
		// A PUBLISH header announcing 1,000,000 bytes, then one byte.
		c.write([]byte{0x30, 0xC0, 0x84, 0x3D, 0x00})
	}
	// Each holds at most its first chunk (16 KiB), not 1 MB.
	eventually(t, "every announcement read", func() bool { return tb.Stats().PartialPacketBytes >= conns*1 })
	if held := tb.Stats().PartialPacketBytes; held > conns*16<<10 {
		t.Fatalf("%d connections announcing 1 MB hold %d bytes; want at most %d", conns, held, conns*16<<10)
	}
}

// A CONNECT larger than MaxConnectSize is refused before a byte of its body
// is held: a stranger cannot make the broker allocate.
func TestOversizedConnectIsRefusedUnread(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxConnectSize: 4096}})
	c := dialRaw(t, tb.addr)
	c.write([]byte{0x10, 0xC0, 0x84, 0x3D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 5})
	c.expectClosed()
	if held := tb.Stats().PartialPacketBytes; held != 0 {
		t.Fatalf("holding %d bytes for a refused CONNECT", held)
	}
	// A CONNECT under the limit, with a will, still gets in.
	cp := v5Connect("connect-limit-ok")
	cp.Will = &packets.Will{Topic: "w", Payload: make([]byte, 3000)}
	connectRaw(t, tb.addr, cp)
}

// When packets in progress would take the broker over MaxPartialPacketBytes,
// the connection that needs more is closed with 0x97, its bytes are given
// back, and whole packets still flow.
func TestPartialPacketBudgetIsEnforced(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxPartialPacketBytes: 16 << 10}})
	a, _ := connectRaw(t, tb.addr, v5Connect("budget-a"))
	wire := (&packets.Publish{Topic: "budget/t", Payload: make([]byte, 100_000)}).Append(nil, packets.V5)
	a.write(wire[:10_000])
	eventually(t, "a's body in progress", func() bool { return tb.Stats().PartialPacketBytes == 16<<10 })

	b, _ := connectRaw(t, tb.addr, v5Connect("budget-b"))
	b.write(wire[:10_000])
	b.expectDisconnect(packets.QuotaExceeded)

	a.write(wire[10_000:40_000]) // a must grow past the budget too
	a.expectDisconnect(packets.QuotaExceeded)
	eventually(t, "the budget given back", func() bool { return tb.Stats().PartialPacketBytes == 0 })

	subr, _ := connectRaw(t, tb.addr, v5Connect("budget-sub"))
	subr.subscribe(1, sub("budget/t", 0))
	c, _ := connectRaw(t, tb.addr, v5Connect("budget-c"))
	c.publish(&packets.Publish{Topic: "budget/t", Payload: []byte("small")})
	if got := subr.nextPublish(); string(got.Payload) != "small" {
		t.Fatalf("got %q", got.Payload)
	}
}

// A client that keeps writing after a protocol error reads the broker's
// DISCONNECT and its reason, not a connection reset.
func TestDisconnectReasonReachesClientStillWriting(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("still-writing"))
	// A PUBLISH with QoS 3 is malformed; what follows is more of the
	// client's burst, already on its way when the broker decides.
	burst := []byte{0x36, 0x05, 0x00, 0x01, 'x', 0x00, 0x01}
	more := (&packets.Publish{Topic: "still/t", Payload: make([]byte, 1000)}).Append(nil, packets.V5)
	for range 4000 { // 4 MB: more than the socket buffers hold
		burst = append(burst, more...)
	}
	// The client reads only once its burst is out, as a client busy
	// publishing does; a reset by then would have discarded the answer.
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(burst); err != nil {
		t.Fatalf("the broker stopped reading the burst: %v", err)
	}
	p, err := c.read(wait)
	if err != nil {
		t.Fatalf("reading the broker's answer: %v (a reset instead of the DISCONNECT?)", err)
	}
	d, ok := p.(*packets.Disconnect)
	if !ok || d.Reason != packets.MalformedPacket {
		t.Fatalf("got %T %+v, want DISCONNECT 0x81", p, p)
	}
}
