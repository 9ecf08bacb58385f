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

// A connection woken by a PINGREQ after a second's silence goes back to the
// poller, detached, as soon as it has answered: without the rule it would
// keep its goroutine and net.Conn for ParkIdleAfter (an hour here).
func TestPingingConnectionParksAgainRightAfterPingresp(t *testing.T) {
	tb := reparkBroker(t)
	w := countWakes(t)
	cp := v5Connect("pinger")
	cp.KeepAlive = 60
	c, _ := connectRaw(t, tb.addr, cp)
	eventually(t, "the connection parked after CONNACK", func() bool { return tb.IsDetached("pinger") })
	for round := 1; round <= 2; round++ {
		time.Sleep(broker.ReparkQuiet + 100*time.Millisecond) // the silence that makes the wake a rare one
		c.send(&packets.Pingreq{})
		if p := c.next(); p.Type() != packets.TypePingresp {
			t.Fatalf("round %d: got %T, want PINGRESP", round, p)
		}
		eventually(t, fmt.Sprintf("round %d: parked again after PINGRESP", round), func() bool { return tb.IsDetached("pinger") })
		if n := w.of("pinger"); n != round {
			t.Fatalf("round %d: %d wake-ups, want %d (one per ping)", round, n, round)
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
	s, _ := connectRaw(t, tb.addr, persistent("acker", 600))
	s.subscribe(1, sub("pp/ack", 1))
	s.disconnect(packets.NormalDisconnection)
	cp := persistent("acker", 600)
	cp.CleanStart = false
	s, _ = connectRaw(t, tb.addr, cp)
	p, _ := connectRaw(t, tb.addr, v5Connect("pinger-pub"))
	p.subscribe(1, sub("pp/echo", 1))
	eventually(t, "the subscriber parked", func() bool { return tb.IsDetached("acker") })
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
