package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// Parking again after keep-alive traffic (park_repark.go, docs/decisions/0047).
// The brokers here park a connection after an hour of silence, or right
// after CONNACK (connect.go): whatever parks a connection during a test is
// the rule under test, never the ParkIdleAfter timer.

// repark starts such a broker.
func reparkBroker(t *testing.T) *testBroker {
	return startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: time.Hour})
}

// subscribedAndParked connects id subscribed to filter at QoS 1 and parked:
// the subscription is made on a first connection, and the session resumed
// by a second, which parks right after CONNACK (a SUBSCRIBE would keep it
// awake for the hour).
func subscribedAndParked(t *testing.T, tb *testBroker, id, filter string) *rawClient {
	t.Helper()
	c, _ := connectRaw(t, tb.addr, persistent(id, 600))
	c.subscribe(1, sub(filter, 1))
	c.disconnect(packets.NormalDisconnection)
	cp := persistent(id, 600)
	cp.CleanStart = false
	c, _ = connectRaw(t, tb.addr, cp)
	eventually(t, id+" parked", func() bool { return tb.IsDetached(id) })
	return c
}

// wakeCounter counts the wake-ups from the poller, by client id.
type wakeCounter struct {
	mu    sync.Mutex
	woken map[string]int
}

func countWakes(t *testing.T) *wakeCounter {
	w := &wakeCounter{woken: map[string]int{}}
	t.Cleanup(broker.SetResumeSeam(func(id string) { w.mu.Lock(); w.woken[id]++; w.mu.Unlock() }))
	return w
}

func (w *wakeCounter) of(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.woken[id]
}

// A connection woken by keep-alive traffic after a second's silence goes
// back to the poller, detached, as soon as it has answered: without the
// rule it would keep its goroutine and net.Conn for ParkIdleAfter (an hour
// here). A PINGREQ alone is answered by the poller without a wake-up
// (park_ping_linux.go), so the ping follows an acknowledgement (of an id
// the broker does not know, which it ignores) in the same write.
func TestPingingConnectionParksAgainRightAfterPingresp(t *testing.T) {
	tb := reparkBroker(t)
	w := countWakes(t)
	cp := v5Connect("pinger")
	cp.KeepAlive = 60
	c, _ := connectRaw(t, tb.addr, cp)
	eventually(t, "the connection parked after CONNACK", func() bool { return tb.IsDetached("pinger") })
	for round := 1; round <= 2; round++ {
		time.Sleep(broker.ReparkQuiet + 100*time.Millisecond) // the silence that makes the wake a rare one
		ackThenPing := (&packets.Ack{Kind: packets.TypePuback, PacketID: 7}).Append(nil, packets.V5)
		c.write((&packets.Pingreq{}).Append(ackThenPing, packets.V5))
		if p := c.next(); p.Type() != packets.TypePingresp {
			t.Fatalf("round %d: got %T, want PINGRESP", round, p)
		}
		eventually(t, fmt.Sprintf("round %d: parked again after PINGRESP", round), func() bool { return tb.IsDetached("pinger") })
		if tb.HoldsReadBuffer("pinger") {
			// 4 KiB per connection: a fleet's RSS went up, not down (0047).
			t.Fatalf("round %d: parked holding its read buffer", round)
		}
		if n := w.of("pinger"); n != round {
			t.Fatalf("round %d: %d wake-ups, want %d (one per round)", round, n, round)
		}
	}
}

// A wake that reads anything but keep-alive traffic keeps the usual
// ParkIdleAfter: the PINGREQ after it is read by the running reader, not by
// a second wake-up (which there would be had the connection parked again:
// the poller reports the waiting bytes at once).
func TestPublishOrSubscribeAfterQuietKeepsTheConnectionAwake(t *testing.T) {
	defer broker.SetReparkQuiet(0)() // the rule on for every wake
	for _, tc := range []struct {
		name string
		do   func(c *rawClient)
	}{
		{"publish", func(c *rawClient) {
			c.publish(&packets.Publish{Topic: "awake/t", QoS: 1, PacketID: 1, Payload: []byte("x")})
			c.expectAck(packets.TypePuback, 1)
		}},
		{"publish-qos0-then-ping", func(c *rawClient) {
			// Both in one write: the batch is not keep-alive traffic only.
			var b []byte
			b = (&packets.Publish{Topic: "awake/t", Payload: []byte("x")}).Append(b, packets.V5)
			c.write((&packets.Pingreq{}).Append(b, packets.V5))
			if p := c.next(); p.Type() != packets.TypePingresp {
				t.Fatalf("got %T, want PINGRESP", p)
			}
		}},
		{"subscribe", func(c *rawClient) { c.subscribe(1, sub("awake/t", 1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := reparkBroker(t)
			w := countWakes(t)
			id := "awake-" + tc.name
			c, _ := connectRaw(t, tb.addr, v5Connect(id))
			eventually(t, "the connection parked after CONNACK", func() bool { return tb.ParkedCount() == 1 })
			tc.do(c)
			c.send(&packets.Pingreq{})
			if p := c.next(); p.Type() != packets.TypePingresp {
				t.Fatalf("got %T, want PINGRESP", p)
			}
			if n := w.of(id); n != 1 {
				t.Fatalf("%d wake-ups, want 1: the connection parked again after a %s", n, tc.name)
			}
			if n := tb.ParkedCount(); n != 0 {
				t.Fatalf("%d connections parked, want 0", n)
			}
		})
	}
}

// Ping-pong clients never park, and a subscriber that only acknowledges a
// stream of QoS 1 messages parks again at most once: its first
// acknowledgement after the quiet second re-parks it, the next ones come
// well within a second of the one before. Dropping the quiet-before-the-wake
// condition gives one park and wake per message (~100).
func TestPingPongAndBusyAckerAreNotParkedPerMessage(t *testing.T) {
	tb := reparkBroker(t)
	w := countWakes(t)
	s := subscribedAndParked(t, tb, "acker", "pp/ack")
	p, _ := connectRaw(t, tb.addr, v5Connect("pinger-pub"))
	p.subscribe(1, sub("pp/echo", 1))
	time.Sleep(broker.ReparkQuiet + 100*time.Millisecond) // the acker's first wake is a rare one
	const n = 100
	for i := 1; i <= n; i++ {
		id := uint16(i)
		p.publish(&packets.Publish{Topic: "pp/ack", QoS: 1, PacketID: id, Payload: []byte("m")})
		p.expectAck(packets.TypePuback, id)
		m := s.nextPublish()
		s.ack(packets.TypePuback, m.PacketID)
		// The ping-pong: the publisher's own round trip through the broker.
		p.publish(&packets.Publish{Topic: "pp/echo", QoS: 1, PacketID: id, Payload: []byte("e")})
		got := 0
		for got < 2 { // the PUBACK and the echo, in either order
			switch x := p.next().(type) {
			case *packets.Ack:
				got++
			case *packets.Publish:
				p.ack(packets.TypePuback, x.PacketID)
				got++
			}
		}
	}
	if k := w.of("pinger-pub"); k != 1 {
		t.Fatalf("the ping-pong client woke %d times, want 1 (it never parks once busy)", k)
	}
	// A pause over a second between two messages (a loaded machine) costs one
	// more; a park per acknowledgement costs n.
	if k := w.of("acker"); k > 10 {
		t.Fatalf("the acknowledging subscriber woke %d times for %d messages", k, n)
	}
}

// A PINGREQ and a delivery race for a connection that parks again after
// each keep-alive-only wake: the writer may meet it awake, parking, or
// parked and detached (and attach it). Every round, both the PINGRESP and
// the message arrive, the acknowledgement (itself a keep-alive-only wake)
// is taken, and nothing is lost or doubled.
func TestPingRacingDeliveryToARepark(t *testing.T) {
	defer broker.SetReparkQuiet(0)()
	tb := reparkBroker(t)
	s := subscribedAndParked(t, tb, "race-sub", "race/t")
	p, _ := connectRaw(t, tb.addr, v5Connect("race-pub"))
	w := countWakes(t)
	attachesBefore := broker.WriteAttaches()
	for i := 1; i <= 200; i++ {
		id := uint16(i)
		pub := (&packets.Publish{Topic: "race/t", QoS: 1, PacketID: id, Payload: []byte(fmt.Sprint(i))}).Append(nil, packets.V5)
		var wg sync.WaitGroup
		var werr error
		wg.Add(1)
		go func() { // the rawClient fails the test from its own goroutine only
			defer wg.Done()
			_, werr = p.conn.Write(pub)
		}()
		s.send(&packets.Pingreq{})
		wg.Wait()
		if werr != nil {
			t.Fatalf("round %d: publish: %v", i, werr)
		}
		p.expectAck(packets.TypePuback, id)
		pong, msg := false, false
		for !pong || !msg {
			switch x := s.next().(type) {
			case *packets.Pingresp:
				pong = true
			case *packets.Publish:
				if msg || string(x.Payload) != fmt.Sprint(i) {
					t.Fatalf("round %d: got message %q (already had one: %v)", i, x.Payload, msg)
				}
				msg = true
				s.ack(packets.TypePuback, x.PacketID)
			default:
				t.Fatalf("round %d: got %T", i, x)
			}
		}
	}
	eventually(t, "the subscriber parked again", func() bool { return tb.IsDetached("race-sub") })
	s.expectNothing(50 * time.Millisecond)
	// The race was run: the subscriber went back to the poller between
	// rounds (else it would have woken once), and deliveries met it parked.
	wakes, attaches := w.of("race-sub"), broker.WriteAttaches()-attachesBefore
	t.Logf("200 rounds: %d wake-ups, %d deliveries attached a parked connection", wakes, attaches)
	if wakes < 2 {
		t.Fatalf("the subscriber woke %d times: it never parked again", wakes)
	}
}

// A PINGREQ races a takeover of its session: the old connection gets its
// PINGRESP or not, then DISCONNECT 0x8E and the close, whether the kick met
// it awake, parking again or parked; the new one has the session.
func TestPingRacingTakeoverOfARepark(t *testing.T) {
	defer broker.SetReparkQuiet(0)()
	tb := reparkBroker(t)
	old, _ := connectRaw(t, tb.addr, persistent("race-twin", 600))
	for i := 1; i <= 30; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = old.conn.Write((&packets.Pingreq{}).Append(nil, packets.V5)) // may meet a closed socket
		}()
		cp := persistent("race-twin", 600)
		cp.CleanStart = false
		nu, ack := connectRaw(t, tb.addr, cp)
		wg.Wait()
		if !ack.SessionPresent {
			t.Fatalf("round %d: the session was not kept", i)
		}
		p := old.next()
		if p.Type() == packets.TypePingresp {
			p = old.next()
		}
		if d, ok := p.(*packets.Disconnect); !ok || d.Reason != packets.SessionTakenOver {
			t.Fatalf("round %d: old connection got %T %+v, want DISCONNECT 0x8E", i, p, p)
		}
		old.expectClosed()
		old = nu
	}
	old.send(&packets.Pingreq{})
	if p := old.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("the last connection got %T, want PINGRESP", p)
	}
	eventually(t, "the last connection parked again", func() bool { return tb.ParkedCount() == 1 })
}
