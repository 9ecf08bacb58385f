package broker_test

import (
	"encoding/binary"
	"fmt"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// A publisher's reader writes what it delivers inline, on its own goroutine
// (docs/decisions/0036-low-rate-path.md). These tests hold that write to its
// promises: it never waits for a subscriber that does not read, and it never
// interleaves with the flusher that takes over what the socket refused.

// TestNonReadingSubscriberNeverStallsThePublisher fills a subscriber's socket
// that is never read, then asks the publisher's own connection for a
// PINGRESP and another subscriber for the last message: both come only if
// the publisher's reader is not stuck writing to the full socket.
func TestNonReadingSubscriberNeverStallsThePublisher(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore, Limits: broker.Limits{MaxWriteBuffer: 64 << 20}})
	stuck, _ := connectRaw(t, tb.addr, v5Connect("stuck"))
	stuck.subscribe(1, packets.Subscription{Filter: "flood"})
	reader, _ := connectRaw(t, tb.addr, v5Connect("reader"))
	reader.subscribe(1, packets.Subscription{Filter: "flood"})
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))

	// 24 MiB: more than loopback's socket buffers hold on both ends, so the
	// stuck subscriber's socket refuses writes long before the end.
	const n, size = 3 << 10, 8 << 10
	payload := make([]byte, size)
	done := make(chan error, 1)
	go func() { // the reading subscriber drains as it goes, or the flood would back up into it
		for i := range n {
			p, err := reader.read(wait)
			if err != nil {
				done <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if _, ok := p.(*packets.Publish); !ok {
				done <- fmt.Errorf("message %d: got %T", i, p)
				return
			}
		}
		done <- nil
	}()
	msg := (&packets.Publish{Topic: "flood", Payload: payload}).Append(nil, packets.V5)
	for range n {
		pub.write(msg)
	}
	pub.send(&packets.Pingreq{})
	if p := pub.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("publisher got %T, want PINGRESP", p)
	}
	if err := <-done; err != nil {
		t.Fatalf("reading subscriber: %v", err)
	}
	_ = stuck // never read
}

// TestInlineWritesAndFlushersNeverInterleave has two publishers deliver
// numbered messages to one subscriber while it also asks for PINGRESPs (sent
// by a flusher goroutine, not inline), and reads nothing at first so that
// inline writes find the socket full and hand over to a flusher mid-stream.
// Every packet must then parse, each publisher's messages must arrive in
// order and complete, and every PINGRESP must come.
func TestInlineWritesAndFlushersNeverInterleave(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore, Limits: broker.Limits{MaxWriteBuffer: 256 << 20}})
	sub, _ := connectRaw(t, tb.addr, v5Connect("sub"))
	sub.subscribe(1, packets.Subscription{Filter: "seq/+"})
	const pubs, n, pings = 2, 2000, 200
	var wg sync.WaitGroup
	for k := range pubs {
		pub, _ := connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("pub-%d", k)))
		_ = pub.conn.SetWriteDeadline(time.Now().Add(4 * wait))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				p := make([]byte, 4<<10) // 2 x 8 MiB: the subscriber's socket fills while it does not read
				binary.BigEndian.PutUint32(p, uint32(i))
				if _, err := pub.conn.Write((&packets.Publish{Topic: fmt.Sprintf("seq/%d", k), Payload: p}).Append(nil, packets.V5)); err != nil {
					t.Errorf("publisher %d: %v", k, err)
					return
				}
			}
		}()
	}
	_ = sub.conn.SetWriteDeadline(time.Now().Add(4 * wait))
	wg.Add(1)
	go func() { // PINGRESPs go through a flusher, while the publishers' writes go inline
		defer wg.Done()
		for range pings {
			if _, err := sub.conn.Write((&packets.Pingreq{}).Append(nil, packets.V5)); err != nil {
				t.Errorf("PINGREQ: %v", err)
				return
			}
		}
	}()
	// Nothing is read until everything is sent: the broker meets a full
	// socket, and its inline writes hand over to a flusher.
	wg.Wait()
	next := make([]uint32, pubs)
	pongs := 0
	for total := 0; total < pubs*n || pongs < pings; {
		switch p := sub.next().(type) {
		case *packets.Publish:
			var k int
			if _, err := fmt.Sscanf(p.Topic, "seq/%d", &k); err != nil || k >= pubs {
				t.Fatalf("topic %q", p.Topic)
			}
			if got := binary.BigEndian.Uint32(p.Payload); got != next[k] {
				t.Fatalf("publisher %d: message %d arrived when %d was next", k, got, next[k])
			}
			next[k]++
			total++
		case *packets.Pingresp:
			pongs++
		default:
			t.Fatalf("got %T", p)
		}
	}
}

// TestRoundTripStartsNoGoroutine holds the low-rate path to its point: a
// client with one message in flight, at QoS 0 and 1, gets its delivery and
// its PUBACK written by the broker goroutine that read its PUBLISH, not by a
// goroutine started for each message (before decision 0036: one per round
// trip).
func TestRoundTripStartsNoGoroutine(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore})
	c, _ := connectRaw(t, tb.addr, v5Connect("pingpong"))
	c.subscribe(1, packets.Subscription{Filter: "pp", QoS: 1})
	const rounds = 200
	roundTrip := func(qos byte, id uint16) {
		c.send(&packets.Publish{Topic: "pp", QoS: qos, PacketID: id, Payload: []byte("x")})
		got, acked := false, qos == 0
		for !got || !acked {
			switch p := c.next().(type) {
			case *packets.Publish:
				got = true
				if p.QoS == 1 {
					c.send(&packets.Ack{Kind: packets.TypePuback, PacketID: p.PacketID})
				}
			case *packets.Ack:
				acked = p.Kind == packets.TypePuback && p.PacketID == id
			default:
				t.Fatalf("got %T", p)
			}
		}
	}
	for _, qos := range []byte{0, 1} {
		roundTrip(qos, 1) // whatever the first message starts (pools, the poller) is not per message
		before := goroutinesCreated()
		for i := range rounds {
			roundTrip(qos, uint16(i%100+1))
		}
		// Some slack for the runtime's and the test framework's own.
		n := goroutinesCreated() - before
		if n > rounds/10 {
			t.Errorf("QoS %d: %d goroutines started for %d round trips", qos, n, rounds)
		}
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
