package broker_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// The poller answers a parked connection's PINGREQ itself
// (park_ping_linux.go, docs/decisions/0050). The brokers here park a
// connection right after CONNACK and otherwise after an hour: a connection
// that wakes stays awake for the test, so a wake-up shows.

// parkedPinger connects id (3.1.1 unless v5) with keepAlive seconds and
// waits until it is parked without its net.Conn.
func parkedPinger(t *testing.T, tb *testBroker, id string, keepAlive uint16, v5 bool) *rawClient {
	t.Helper()
	cp := v5Connect(id)
	if !v5 {
		cp.ProtocolVersion = packets.V311
	}
	cp.KeepAlive = keepAlive
	c, _ := connectRaw(t, tb.addr, cp)
	eventually(t, id+" parked after CONNACK", func() bool { return tb.IsDetached(id) })
	return c
}

func pingreqs(n int) []byte {
	var b []byte
	for range n {
		b = (&packets.Pingreq{}).Append(b, packets.V5)
	}
	return b
}

func (c *rawClient) expectPingresp(what string) {
	c.t.Helper()
	if p := c.next(); p.Type() != packets.TypePingresp {
		c.t.Fatalf("%s: got %T %+v, want PINGRESP", what, p, p)
	}
}

// A PINGREQ on a parked connection is answered without waking it: it is
// parked and detached again after each answer, and never gets a goroutine.
// The keep-alive counts from the last ping: pinging every half second with a
// keep-alive of 2 s (a limit of 3 s) for 4 s keeps it open, and silence
// then closes it [MQTT-3.1.2-22]. Before the poller answered pings, every
// ping woke the connection ("1 wake-ups, want 0").
func TestPingOnParkedConnectionIsAnsweredOnThePoller(t *testing.T) {
	tb := reparkBroker(t)
	w := countWakes(t)
	c := parkedPinger(t, tb, "poll-pinger", 2, false)
	if !tb.PollerInRuntime() {
		// A blocking epoll_wait works, at a third more CPU per ping (0050).
		t.Fatal("the poller waits in a blocking epoll_wait, not in the runtime's poller")
	}
	before := broker.PollerPings()
	start := time.Now()
	pings := 0
	for round := 1; time.Since(start) < 4*time.Second; round++ {
		time.Sleep(500 * time.Millisecond) // the client's pace, not a wait for the broker
		n := 1 + round%2                   // one PINGREQ, or two in one write
		c.write(pingreqs(n))
		for i := range n {
			c.expectPingresp(fmt.Sprintf("round %d, ping %d", round, i+1))
		}
		pings += n
		if k := w.of("poll-pinger"); k != 0 {
			t.Fatalf("round %d: %d wake-ups, want 0: the poller answers a PINGREQ", round, k)
		}
		eventually(t, fmt.Sprintf("round %d: parked again", round), func() bool { return tb.IsDetached("poll-pinger") })
		if tb.HoldsReadBuffer("poll-pinger") {
			t.Fatalf("round %d: parked holding its read buffer", round)
		}
	}
	if got := broker.PollerPings() - before; got < uint64(pings) {
		t.Fatalf("the poller answered %d PINGREQs, want %d", got, pings)
	}
	// Silent now: closed within 1.5 x the keep-alive and the wheel's second.
	_ = c.conn.SetReadDeadline(time.Now().Add(3*time.Second + 2*wait))
	if p, err := packets.ReadPacket(c.r, c.v, 0); err == nil {
		t.Fatalf("got %T after the pings stopped, want the connection closed", p)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("still open long after the keep-alive ran out")
	}
}

// What is not only whole PINGREQs goes to the connection's reader, with
// the bytes the poller read: it wakes once, and everything is answered once.
func TestPollerHandsOverWhatIsNotOnlyPings(t *testing.T) {
	pub := func(id uint16) []byte {
		return (&packets.Publish{Topic: "handover/t", QoS: 1, PacketID: id, Payload: []byte("m")}).Append(nil, packets.V5)
	}
	for _, tc := range []struct {
		name        string
		bytes       []byte
		pongs, acks int
	}{
		{"ping-then-publish", append(pingreqs(1), pub(1)...), 1, 1},
		{"publish-then-ping", append(pub(1), pingreqs(1)...), 1, 1},
		{"more-pings-than-the-poller-answers", pingreqs(20), 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := reparkBroker(t)
			s, _ := connectRaw(t, tb.addr, v5Connect("handover-sub"))
			s.subscribe(1, sub("handover/t", 1))
			w := countWakes(t)
			c := parkedPinger(t, tb, "handover", 60, true)
			c.write(tc.bytes)
			pongs, acks := 0, 0
			for pongs+acks < tc.pongs+tc.acks {
				switch p := c.next().(type) { // the PUBACK may wait for the store: any order
				case *packets.Pingresp:
					pongs++
				case *packets.Ack:
					if p.Kind != packets.TypePuback || p.PacketID != 1 {
						t.Fatalf("got %+v, want PUBACK 1", p)
					}
					acks++
				default:
					t.Fatalf("got %T", p)
				}
			}
			if pongs != tc.pongs || acks != tc.acks {
				t.Fatalf("%d PINGRESPs and %d PUBACKs, want %d and %d", pongs, acks, tc.pongs, tc.acks)
			}
			c.expectNothing(50 * time.Millisecond)
			if tc.acks > 0 {
				if m := s.nextPublish(); string(m.Payload) != "m" {
					t.Fatalf("subscriber got %q", m.Payload)
				}
			}
			s.expectNothing(50 * time.Millisecond)
			if k := w.of("handover"); k != 1 {
				t.Fatalf("%d wake-ups, want 1: the reader has the bytes", k)
			}
		})
	}
}

// Half a PINGREQ wakes the connection with its byte handed over; the
// reader completes the packet when the rest comes and answers it. A
// malformed PINGREQ (flags set [MQTT-2.1.3-1]) is not the poller's to
// answer: the reader refuses it.
func TestPollerHandsOverPartOrMalformedPing(t *testing.T) {
	t.Run("half", func(t *testing.T) {
		tb := reparkBroker(t)
		w := countWakes(t)
		c := parkedPinger(t, tb, "half-pinger", 60, false)
		c.write([]byte{0xC0})
		eventually(t, "the connection woken by half a PINGREQ", func() bool { return w.of("half-pinger") == 1 })
		c.expectNothing(50 * time.Millisecond)
		c.write([]byte{0x00})
		c.expectPingresp("the second half")
		c.send(&packets.Pingreq{}) // read by the awake reader
		c.expectPingresp("the next ping")
		if k := w.of("half-pinger"); k != 1 {
			t.Fatalf("%d wake-ups, want 1", k)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		tb := reparkBroker(t)
		c := parkedPinger(t, tb, "bad-pinger", 60, true)
		c.write([]byte{0xC1, 0x00})
		c.expectDisconnect(packets.MalformedPacket)
	})
}

// EOF right after a ping, in one go or after the poller answered it: the
// PINGRESP arrives, then the broker closes the connection and forgets it.
func TestEOFAfterAPingOnAParkedConnection(t *testing.T) {
	for _, together := range []bool{true, false} {
		t.Run(fmt.Sprint("together=", together), func(t *testing.T) {
			tb := reparkBroker(t)
			c := parkedPinger(t, tb, "eof-pinger", 60, false)
			c.send(&packets.Pingreq{})
			if !together {
				c.expectPingresp("before EOF")
				eventually(t, "parked again", func() bool { return tb.IsDetached("eof-pinger") })
			}
			if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if together {
				c.expectPingresp("with EOF")
			}
			c.expectClosed()
			eventually(t, "the connection forgotten", func() bool { return tb.ClientCount() == 0 })
		})
	}
}

// PINGREQs race QoS 0 deliveries to a parked subscriber: the poller may
// meet it detached, attached by a writer, or being written to (then it
// hands the PINGREQ to a woken reader, which parks again at once: the
// quiet condition of 0047 is off). Every round, exactly one PINGRESP and
// the message arrive, whole.
func TestPollerPingRacingDeliveries(t *testing.T) {
	defer broker.SetReparkQuiet(0)()
	tb := reparkBroker(t)
	s := subscribedAndParked(t, tb, "ping-race-sub", "ping-race/t")
	p, _ := connectRaw(t, tb.addr, v5Connect("ping-race-pub"))
	w := countWakes(t)
	pingsBefore, attachesBefore := broker.PollerPings(), broker.WriteAttaches()
	const rounds = 200
	for i := 1; i <= rounds; i++ {
		pub := (&packets.Publish{Topic: "ping-race/t", Payload: []byte(fmt.Sprint(i))}).Append(nil, packets.V5)
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
		pong, msg := false, false
		for !pong || !msg {
			switch x := s.next().(type) {
			case *packets.Pingresp:
				if pong {
					t.Fatalf("round %d: a second PINGRESP", i)
				}
				pong = true
			case *packets.Publish:
				if msg || string(x.Payload) != fmt.Sprint(i) {
					t.Fatalf("round %d: got message %q (already had one: %v)", i, x.Payload, msg)
				}
				msg = true
			default:
				t.Fatalf("round %d: got %T", i, x)
			}
		}
	}
	eventually(t, "the subscriber parked again", func() bool { return tb.IsDetached("ping-race-sub") })
	s.expectNothing(50 * time.Millisecond)
	answered, attaches := broker.PollerPings()-pingsBefore, broker.WriteAttaches()-attachesBefore
	t.Logf("%d rounds: %d PINGREQs answered by the poller, %d wake-ups, %d deliveries attached a parked subscriber",
		rounds, answered, w.of("ping-race-sub"), attaches)
	if answered == 0 {
		t.Fatal("the poller answered no PINGREQ: the race was not run")
	}
}
